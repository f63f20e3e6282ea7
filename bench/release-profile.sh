#!/bin/bash
# What each release-profile setting buys: size and start-up time of nstype,
# built once per variant into its own target dir. Needs hyperfine.
# Usage: bench/release-profile.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0

variant() { # name, then env assignments
	local name=$1; shift
	local dir="$out/v$((++n))"
	env "$@" cargo build -q --release -p nstype --target-dir "$dir" >/dev/null
	local bin="$dir/release/nstype"
	[ -x "$bin" ] || bin="$dir/x86_64-unknown-linux-gnu/release/nstype"
	local size; size=$(stat -c %s "$bin")
	local mean; mean=$(hyperfine -N -w 100 -r "$runs" --export-json "$dir.json" "$bin -n -o ns /proc/self/ns/net" >/dev/null 2>&1;
		python3 -c "import json,sys; r=json.load(open('$dir.json'))['results'][0]; print('%.1f' % (r['mean']*1e6))")
	printf '%-62s %9d bytes %8s us\n' "$name" "$size" "$mean"
}

P=CARGO_PROFILE_RELEASE
dyn="RUSTFLAGS=-C target-feature=-crt-static"
base=("$dyn" "${P}_OPT_LEVEL=3" "${P}_LTO=false" "${P}_CODEGEN_UNITS=16" "${P}_PANIC=unwind" "${P}_STRIP=none")
variant "cargo default release"      "${base[@]}"
variant "+ lto, codegen-units=1"     "$dyn" "${P}_OPT_LEVEL=3" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=unwind" "${P}_STRIP=none"
variant "+ panic=abort"              "$dyn" "${P}_OPT_LEVEL=3" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=abort" "${P}_STRIP=none"
variant "+ strip"                    "$dyn" "${P}_OPT_LEVEL=3" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=abort" "${P}_STRIP=symbols"
variant "  with opt-level=s"         "$dyn" "${P}_OPT_LEVEL=s" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=abort" "${P}_STRIP=symbols"
variant "+ crt-static (shipped: Cargo.toml + .cargo/config.toml)" "${P}_OPT_LEVEL=3" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=abort" "${P}_STRIP=symbols"
variant "  static, with opt-level=s"  "${P}_OPT_LEVEL=s" "${P}_LTO=true" "${P}_CODEGEN_UNITS=1" "${P}_PANIC=abort" "${P}_STRIP=symbols"
