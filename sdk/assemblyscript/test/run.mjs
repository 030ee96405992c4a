// npm test: compiles units.ts with the pinned asc and runs its checks in
// node. The imports the SDK declares are stubs here: nothing in the checks
// calls the host. The SDK's behaviour against a real host is the
// conformance suite's job (sdk/conformance, run with go test).
import { main } from "assemblyscript/asc";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dir = await mkdtemp(join(tmpdir(), "torpor-as-test-"));
const out = join(dir, "units.wasm");
const { error, stderr } = await main([
  join(here, "units.ts"), "--outFile", out, "--runtime", "incremental",
  "--use", "abort=assembly/abort/torpor_abort", "--noColors",
], {});
if (error) {
  console.error(stderr.toString());
  process.exit(1);
}
const wasm = await readFile(out);
await rm(dir, { recursive: true });

let memory;
const stub = new Proxy({}, {
  get: (_, name) => (...args) => {
    if (name === "log") {
      const [, ptr, len] = args;
      console.error("log:", Buffer.from(memory.buffer, ptr, len).toString());
      return 0;
    }
    throw new Error(`units called the host: ${String(name)}`);
  },
});
const { instance } = await WebAssembly.instantiate(wasm, {
  torpor_v1: stub,
  wasi_snapshot_preview1: stub,
});
memory = instance.exports.memory;
let failed = 0;
for (const [name, fn] of Object.entries(instance.exports)) {
  if (!name.startsWith("check")) continue;
  const got = fn();
  console.log(`${got === 0 ? "ok  " : "FAIL"} ${name}${got === 0 ? "" : ` (expectation ${got})`}`);
  if (got !== 0) failed++;
}
process.exit(failed ? 1 : 0);
