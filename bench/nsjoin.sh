#!/bin/bash
# nsjoin -a -t PID true against util-linux nsenter -a -t PID true, into the
# same running nsclone -mupin container, interleaved in one run. nsjoin also
# takes the target's root, working directory, user, capabilities and
# no_new_privs; into a mkroot container, its seccomp filter too.
# Needs root, gcc, util-linux, a release build. Usage: bench/nsjoin.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-300}
out=$(mktemp -d)
make -s build >/dev/null
gcc -O2 -o "$out/pairs" bench/pairs.c
B=$PWD/target/shipped
true=$(type -P true)
"$B/nsclone" -mupin --pidfile="$out/pid" sleep 600 &
container=$!
"$B/nsclone" -mupin --pidfile="$out/pid2" "$B/mkroot" "$out/root" sleep 600 &
filtered=$!
trap 'kill $container $filtered 2>/dev/null; wait $container $filtered 2>/dev/null; rm -rf "$out"' EXIT
while [ ! -s "$out/pid" ] || [ ! -s "$out/pid2" ]; do sleep 0.01; done
pid=$(cat "$out/pid")
pid2=$(cat "$out/pid2")
until grep -q 'Seccomp:.2' "/proc/$pid2/status"; do sleep 0.01; done
echo "== joining a running container ($rounds interleaved rounds)"
"$out/pairs" "$rounds" -- nsenter -a -t "$pid" "$true" -- "$B/nsjoin" -a -t "$pid" "$true" -- "$B/nsjoin" -a -t "$pid" --keep-caps "$true"
echo "== joining a mkroot container, whose seccomp filter nsjoin copies ($rounds interleaved rounds)"
"$out/pairs" "$rounds" -- nsenter -a -t "$pid2" "$true" -- "$B/nsjoin" -a -t "$pid2" "$true" -- "$B/nsjoin" -a -t "$pid2" --no-seccomp "$true"
