#!/usr/bin/env node
// Builds a torpor plugin written in AssemblyScript:
//
//   node build.mjs ENTRY.ts OUT.wasm
//
// with the pinned asc from this package's node_modules (npm ci) and the
// flags every torpor plugin needs: a reactor (_initialize instead of a start
// section), abort routed to a trap, the incremental collector, and no
// debug names, so that a build is reproducible byte for byte.
import { main } from "assemblyscript/asc";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  console.error("usage: node build.mjs ENTRY.ts OUT.wasm");
  process.exit(2);
}
const sdk = dirname(fileURLToPath(import.meta.url));
const abort = relative(process.cwd(), join(sdk, "assembly", "abort")).split("\\").join("/");
const { error, stderr } = await main([
  entry,
  "--outFile", out,
  "--optimizeLevel", "3",
  "--shrinkLevel", "2",
  "--converge",
  "--runtime", "incremental",
  "--exportStart", "_initialize",
  "--use", `abort=${abort}/torpor_abort`,
  "--noColors",
]);
if (error) {
  console.error(stderr.toString());
  process.exit(1);
}
