#!/bin/sh
# The seed's first program, "namespace demo", as an nstools pipeline: a child
# in new mount and UTS namespaces names itself my-container, mounts a tmpfs
# and writes a file there, moves into a network namespace of its own; then a
# second process asks the kernel what its namespace files are and joins its
# mount namespace to find the file. Needs root and the tools on PATH
# (make run ARGS=examples/namespace-demo.sh). Leaves nothing behind.
set -eu
work=$(mktemp -d "${TMPDIR:-/tmp}/namespace-demo.XXXXXX")
box=$work/container_root
ready=$work/pid
mkdir "$box"
# The container (the first process):
#   clone(CLONE_NEWNS | CLONE_NEWUTS)    nsclone -mu
#   sethostname("my-container")          --hostname=my-container
#   mount("tmpfs", box, "tmpfs")         mount -t tmpfs
#   write a file there                   echo > file
#   unshare(CLONE_NEWNET)                nsunshare -n (same process: it execs)
nsclone -mu --hostname=my-container sh -c '
	mount -t tmpfs tmpfs "$1" && echo "hello from the container" >"$1/file" &&
	exec nsunshare -n sh -c "echo \$\$ >\"\$2.tmp\" && mv \"\$2.tmp\" \"\$2\" && exec sleep 60" sh "$1" "$2"' \
	sh "$box" "$ready" </dev/null &
container=$!
end() {
	kill "$container" 2>/dev/null || :
	wait "$container" 2>/dev/null || :
	rm -f "$ready"
	rmdir "$box" "$work"
}
trap end EXIT
while [ ! -s "$ready" ]; do sleep 0.01; done
pid=$(cat "$ready")
echo "hostname on the host:        $(hostname)"
echo "hostname in the container:   $(nsjoin -u -t "$pid" hostname)"
# The second process: open /proc/PID/ns/*, ioctl(fd, NS_GET_NSTYPE).
for ns in mnt uts net; do
	echo "type of /proc/PID/ns/$ns:      $(nstype -n -o type "/proc/$pid/ns/$ns")"
done
# Not the same mount namespace as ours (ioctl NS_GET_... and the inode numbers).
nstype -s /proc/self/ns/mnt "/proc/$pid/ns/mnt" || echo "mount namespace:             not the host's"
# On the host, the tmpfs is not there: the directory is empty.
echo "the file, seen from the host: $(cat "$box/file" 2>/dev/null || echo "no such file")"
# setns(open("/proc/PID/ns/mnt"), CLONE_NEWNS), then read the file.
echo "the file, through nsjoin -m: $(nsjoin -m -t "$pid" cat "$box/file")"
# The network namespace of its own has only lo.
echo "network devices inside:      $(nsjoin -n -t "$pid" ip link | awk -F': ' '/^[0-9]+:/ { printf "%s ", $2 }')"
