#!/bin/sh
# build.sh PLUGIN_DIR OUT.wasm [EXTRA_RUSTC_ARGS...]
#
# Builds the torpor Rust plugin whose crate root is PLUGIN_DIR/lib.rs into
# OUT.wasm, against this SDK, with Debian's rustc and no cargo: first the SDK
# as an rlib, then the plugin as a wasm32 cdylib. Any further arguments are
# added to the plugin's rustc command. The plugin is built with
# `-C strip=debuginfo`: Debian's precompiled core brings debug sections that
# would be most of the file (~1.8 MB against ~16 KB without them).
#
# RUSTC overrides the compiler (default /usr/bin/rustc: a rustup rustc
# earlier on PATH may have no wasm32-unknown-unknown target).
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 PLUGIN_DIR OUT.wasm [EXTRA_RUSTC_ARGS...]" >&2
	exit 2
fi
plugin_dir=$1
out=$2
shift 2

RUSTC=${RUSTC:-/usr/bin/rustc}
sdk=$(cd "$(dirname "$0")" && pwd)

# The crate name: the plugin directory's name, made an identifier.
name=$(basename "$(cd "$plugin_dir" && pwd)" | tr -c 'A-Za-z0-9_\n' '_')
case $name in
[0-9]*) name=_$name ;;
esac

D=$(mktemp -d "${TMPDIR:-/tmp}/torpor-rust.XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM

"$RUSTC" --edition 2021 --crate-type rlib --crate-name torpor \
	--target wasm32-unknown-unknown -O -C panic=abort \
	"$sdk/src/lib.rs" --out-dir "$D"

"$RUSTC" --edition 2021 --crate-type cdylib --crate-name "$name" \
	--target wasm32-unknown-unknown -O -C panic=abort \
	-C link-arg=-zstack-size=65536 -C strip=debuginfo \
	--extern torpor="$D/libtorpor.rlib" -L "$D" \
	"$plugin_dir/lib.rs" -o "$out" "$@"
