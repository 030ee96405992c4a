#!/bin/sh
# Rebuilds the example plugins embedded in the torpor binary from their
# sources: the AssemblyScript twins with the SDK's pinned compiler (npm ci
# --prefix sdk/assemblyscript first) and the WAT counter with wat2wasm.
# Run through `go generate ./cmd/torpor`; TestEmbeddedExamplesMatchSource
# fails when the embedded bytes and a fresh build differ.
set -eu
cd "$(dirname "$0")/../../.."
out=cmd/torpor/examples
for name in chat counter broadcast; do
	node sdk/assemblyscript/build.mjs "plugins/$name-as/index.ts" "$out/$name.wasm"
done
wat2wasm -o "$out/counter-wat.wasm" plugins/counter-wat/counter.wat
