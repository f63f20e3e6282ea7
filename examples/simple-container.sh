#!/bin/sh
# The seed's second program, "simple container", as an nstools pipeline: a
# tmpfs root with the host's programs and libraries and its own passwd and
# group, a shared host directory, a 50 MB memory cgroup, new PID, mount, UTS,
# IPC and network namespaces, /proc /sys /dev, a pivot into the root, then
# the command (default: a short look around). Needs root and the tools on
# PATH (make run ARGS=examples/simple-container.sh).
#
#   usage: examples/simple-container.sh [COMMAND [ARG...]]
set -eu
work=$(mktemp -d "${TMPDIR:-/tmp}/simple-container.XXXXXX")
mkdir "$work/shared"
echo "written on the host" >"$work/shared/from-host"
trap 'rm -f "$work/shared/from-host" "$work/shared/from-container"; rmdir "$work/shared" "$work/root" "$work" 2>/dev/null || true' EXIT
if [ $# -eq 0 ]; then
	set -- sh -c '
		echo "hostname:      $(hostname)"
		echo "I am PID:      $$ (PID 1 is $(cat /proc/1/comm))"
		echo "user:          $(id -un) ($(grep -c . /etc/passwd) accounts in /etc/passwd)"
		echo "network:       $(ls /sys/class/net | tr "\n" " ")"
		echo "memory limit:  $(cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null | head -n1) bytes"
		echo "root:          $(awk "\$2 == \"/\" { print \$3 }" /proc/mounts)"
		echo "/shared:       $(cat /shared/from-host)"
		echo "written in the container" >/shared/from-container'
fi
# setrlimit-free 50 MB cap:  mkdir + write memory.max (v2) or memory.limit_in_bytes (v1)
# clone(NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET): nsclone -mupin, PID 1 is its init
# tmpfs root, host /usr and libraries read-only, passwd and group, bind /shared,
# mount /proc /sys /dev, pivot_root (or chroot where it cannot): mkroot
status=0
cglimit 50M nsclone -mupin --hostname=container mkroot -v "$work/shared:/shared" "$work/root" "$@" || status=$?
echo "on the host:   $(cat "$work/shared/from-container" 2>/dev/null || echo "nothing came back")"
exit $status
