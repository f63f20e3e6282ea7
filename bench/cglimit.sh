#!/bin/bash
# cglimit 50M true against cgexec (cgroup-tools) into a cgroup prepared
# beforehand, and systemd-run --scope where systemd runs: back to back, then
# cold (200 ms before each run), interleaved in one run. cglimit also makes
# and removes its cgroup each time; cgexec only joins. Needs root, gcc, a
# release build, cgexec. Usage: bench/cglimit.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
out=$(mktemp -d)
prepared=nstools-bench.$$
mem=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
if [ -n "$mem" ]; then memdir=/sys/fs/cgroup/memory${mem%/}; ctl=memory; else memdir=/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' /proc/self/cgroup); ctl=memory; fi
trap 'rmdir "$memdir/$prepared" 2>/dev/null; rm -rf "$out"' EXIT
make -s build >/dev/null
gcc -O2 -o "$out/pairs" bench/pairs.c
B=$PWD/target/shipped
true=$(type -P true)
mkdir "$memdir/$prepared"
if [ -e "$memdir/$prepared/memory.limit_in_bytes" ]; then echo 52428800 >"$memdir/$prepared/memory.limit_in_bytes"; else echo 52428800 >"$memdir/$prepared/memory.max"; fi
cmds=(-- "$B/cglimit" 50M "$true" -- cgexec -g "$ctl:${mem#/}/$prepared" "$true")
# The floor: the command alone; cglimit less this is its cost to make, join and remove the cgroup.
floor=(-- "$true")
if command -v systemd-run >/dev/null && [ -d /run/systemd/system ]; then
	cmds+=(-- systemd-run --quiet --scope -p MemoryMax=50M "$true")
fi
echo "== back to back ($rounds interleaved rounds)"
"$out/pairs" "$rounds" "${cmds[@]}" "${floor[@]}"
echo "== cold: 200 ms before each run ($((rounds / 4)) rounds)"
PAIRS_PAUSE_MS=200 "$out/pairs" "$((rounds / 4))" "${cmds[@]}"
