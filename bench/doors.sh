#!/bin/bash
# The cost of the ways in being doors no more (issue 23): nsjoin and nsrun exec
# re-execute from a sealed memfd copy of themselves, take the command off the
# caller's terminal, close the caller's descriptors. Measured, interleaved in
# one run, against the same tools before the change (built from git revision
# BEFORE, default the last commit before it) and against the peers: util-linux
# nsenter for nsjoin, runc exec for nsrun exec, on the same containers.
# Needs root, gcc, util-linux, runc. Usage: bench/doors.sh [rounds] [BEFORE]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
before=${2:-9d6cbdd}
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
for p in util-linux runc gcc; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >&2
done
out=$(mktemp -d)
cleanup() {
	[ -n "${container:-}" ] && kill "$container" 2>/dev/null && wait "$container" 2>/dev/null
	runc --root "$out/runc" delete -f doors-runc >/dev/null 2>&1 || :
	target/shipped/nsrun --root "$out/nsrun" delete -f doors-nsrun >/dev/null 2>&1 || :
	git worktree remove --force "$out/before" >/dev/null 2>&1 || :
	rm -rf "$out"
}
trap cleanup EXIT
make -s build >/dev/null
triple=$(readlink target/shipped | cut -d/ -f1)
git worktree add -q --detach "$out/before" "$before"
(cd "$out/before" && CARGO_TARGET_DIR=$out/before-target cargo build -q --release -p nsjoin -p nsrun --target "$triple")
A=$out/before-target/$triple/release
B=$PWD/target/shipped
gcc -O2 -o "$out/pairs" bench/pairs.c
pairs() { "$out/pairs" "$@" | sed -e "s|$out/||g" -e "s|$B/||g"; }
true=$(type -P true)

echo "# nstools: the ways in, before and after issue 23 ($(date -u '+%Y-%m-%d %H:%M UTC'), $rounds rounds)"
echo "before: $before; after: $(git rev-parse --short HEAD); $(runc --version | head -n1); $(nsenter --version)"
echo
echo "-- the sealed copy: what each run copies into its memfd (the stripped binary's size)"
for t in nsjoin nsrun; do
	strip -o "$out/$t.stripped" "$B/$t"
	printf '%10d bytes  %s\n' "$(stat -c %s "$out/$t.stripped")" "$t"
done
echo
"$B/nsclone" -mupin --pidfile="$out/pid" "$B/mkroot" "$out/r" sleep 600 &
container=$!
while [ ! -s "$out/pid" ]; do sleep 0.01; done
pid=$(cat "$out/pid")
until grep -q 'Seccomp:.2' "/proc/$pid/status"; do sleep 0.01; done
echo "-- joining a mkroot container: nsenter, nsjoin before, nsjoin now, nsjoin now with --no-seccomp"
pairs "$rounds" -- nsenter -a -t "$pid" "$true" -- "$A/nsjoin" -a -t "$pid" "$true" -- "$B/nsjoin" -a -t "$pid" "$true" \
	-- "$B/nsjoin" -a -t "$pid" --no-seccomp "$true"
echo
echo "-- resident memory of a waiting nsjoin (the memfd copy is its text now; kB)"
"$B/nsjoin" -a -t "$pid" sleep 2 </dev/null &
j=$!
sleep 0.5
awk '/VmRSS|RssFile|RssShmem/ {printf "%s %s  ", $1, $2}' "/proc/$j/status"; echo " nsjoin now"
wait "$j"
"$A/nsjoin" -a -t "$pid" sleep 2 </dev/null &
j=$!
sleep 0.5
awk '/VmRSS|RssFile|RssShmem/ {printf "%s %s  ", $1, $2}' "/proc/$j/status"; echo " nsjoin before"
wait "$j"
kill "$container"; wait "$container" 2>/dev/null || :
container=

# One bundle for both runtimes: host /usr read-only, a process that sleeps.
bundle=$out/bundle
mkdir -p "$bundle/rootfs"/{usr,proc,sys,dev,tmp}
for l in bin sbin lib lib64; do ln -s "usr/$l" "$bundle/rootfs/$l"; done
cat >"$bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "600"],
              "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/", "noNewPrivileges": true},
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "doors",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}
  ],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}
}
JSON
(cd "$bundle" && runc --root "$out/runc" run -d doors-runc </dev/null >/dev/null 2>&1) || echo "(runc cannot run here: its row is missing)"
"$B/nsrun" --root "$out/nsrun" create --bundle "$bundle" doors-nsrun </dev/null >/dev/null 2>&1
"$B/nsrun" --root "$out/nsrun" start doors-nsrun
echo
echo "-- exec into a running container: runc exec, nsrun exec before, nsrun exec now"
pairs "$rounds" -- runc --root "$out/runc" exec doors-runc "$true" \
	-- "$A/nsrun" --root "$out/nsrun" exec doors-nsrun "$true" -- "$B/nsrun" --root "$out/nsrun" exec doors-nsrun "$true"
