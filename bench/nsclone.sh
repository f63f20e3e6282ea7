#!/bin/bash
# nsclone against a C floor (clone + exec + wait), the same floor with the
# least init a PID namespace needs, and util-linux unshare; and
# nsunshare against unshare without --fork: interleaved, in one run, as ratios.
# Then the peak RSS of the waiting parent. Needs root, gcc, a release build.
# Usage: bench/nsclone.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-500}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make -s build >/dev/null
gcc -O2 -o "$out/pairs" bench/pairs.c
gcc -O2 -o "$out/floor_clone" bench/floor_clone.c
B=target/shipped
true=$(type -P true)

echo "== new mount, uts, pid, ipc, net namespaces + /bin/true ($rounds interleaved rounds)"
"$out/pairs" "$rounds" -- "$out/floor_clone" mupin "$true" -- "$B/nsclone" -mupin "$true" \
	-- "$out/floor_clone" -i mupin "$true" -- "$B/nsclone" -mupin --as-pid-1 --no-lo "$true" -- unshare -fmupin "$true"
echo "== the same without a network namespace"
"$out/pairs" "$rounds" -- "$out/floor_clone" mupi "$true" -- "$B/nsclone" -mupi "$true" \
	-- "$out/floor_clone" -i mupi "$true" -- unshare -fmupi "$true"
echo "== no new namespace: the cost of the tool itself"
"$out/pairs" "$rounds" -- "$out/floor_clone" - "$true" -- "$B/nsclone" "$true" -- unshare -f "$true"
echo "== nsunshare (no fork) against unshare"
"$out/pairs" "$rounds" -- unshare -muin "$true" -- "$B/nsunshare" -muin "$true"

echo "== peak RSS of the waiting parent (VmHWM, kB)"
rss() {
	"$@" sleep 0.5 &
	local pid=$!
	sleep 0.25
	printf '%8s kB  %s\n' "$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" "$*"
	wait "$pid"
}
rss "$B/nsclone" -mupin
rss unshare -fmupin
