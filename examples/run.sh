#!/bin/sh
# `make run` with no ARGS: the design card's chain, built from the freshly
# built tools. At a terminal, a shell inside; otherwise a short tour of the
# container that shows its isolation, its memory limit and the shared
# directory, then exits 0. Everything it makes is under target/run/.
#
#   cglimit 50M                        a cgroup capped at 50 MiB, removed afterwards
#   nsclone -mupinC --hostname=box     new mount, UTS, PID, IPC, net and cgroup namespaces
#   mkroot -v target/run/shared:/shared target/run/root
#                                      a fresh root, the host directory shared at /shared
#   sh                                 the command
set -eu
cd "$(dirname "$0")/.."
bin=${NSTOOLS_BIN_DIR:-$PWD/target/shipped}
work=${NSTOOLS_RUN_DIR:-$PWD/target/run}
if [ "$(id -u)" -ne 0 ]; then
	echo "make run: the chain needs root (cgroups, namespaces); as a user, try:" >&2
	echo "  make run ARGS='nsclone -r -mupinC --hostname=box mkroot $work/root sh'" >&2
	exit 1
fi
mkdir -p "$work/shared"
echo "written on the host" >"$work/shared/from-host"
rm -f "$work/shared/from-container"
export PATH="$bin:$PATH"
set -- cglimit 50M nsclone -mupinC --hostname=box mkroot -v "$work/shared:/shared" "$work/root"
echo "+ $*" >&2
if [ -t 0 ] && [ -t 1 ]; then
	# bash where the host has it: an interactive dash in any PID namespace (util-linux's
	# unshare -fp too) fails to give the terminal back at exit ("Cannot set tty process group").
	shell=sh
	[ -x /bin/bash ] && shell=bash
	exec "$@" "$shell"
fi
tour='
echo "hostname:      $(hostname) (the host: $1)"
echo "PID of sh:     $$, of $(ls -d /proc/[0-9]* | wc -l) processes"
echo "network:       $(ls /sys/class/net | tr "\n" " ")"
limit=$(cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null | head -n1)
echo "memory limit:  $limit bytes"
echo "root:          $(df -h / | awk "NR == 2 { print \$1, \$2 }")"
echo "/shared:       $(cat /shared/from-host)"
echo "written in the container" >/shared/from-container
'
status=0
"$@" sh -c "$tour" sh "$(hostname)" || status=$?
echo "on the host:   $(cat "$work/shared/from-container" 2>/dev/null || echo "nothing came back")"
exit $status
