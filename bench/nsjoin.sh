#!/bin/bash
# nsjoin -a -t PID true against util-linux nsenter -a -t PID true, into the
# same running nsclone -mupin container, interleaved in one run. nsjoin also
# takes the target's root, working directory, capabilities and no_new_privs.
# Needs root, gcc, util-linux, a release build. Usage: bench/nsjoin.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-300}
out=$(mktemp -d)
cargo build -q --release --workspace --bins
gcc -O2 -o "$out/pairs" bench/pairs.c
B=$PWD/target/release
true=$(type -P true)
"$B/nsclone" -mupin --pidfile="$out/pid" sleep 600 &
container=$!
trap 'kill $container 2>/dev/null; wait $container 2>/dev/null; rm -rf "$out"' EXIT
while [ ! -s "$out/pid" ]; do sleep 0.01; done
pid=$(cat "$out/pid")
echo "== joining a running container ($rounds interleaved rounds)"
"$out/pairs" "$rounds" -- nsenter -a -t "$pid" "$true" -- "$B/nsjoin" -a -t "$pid" "$true" -- "$B/nsjoin" -a -t "$pid" --keep-caps "$true"
