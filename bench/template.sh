#!/bin/sh
# A prepared root for floor_chain -t, in the mount namespace this runs in (bench/run
# gives it a private one): a tmpfs at TEMPLATE holding /usr read-only with the merged-/usr
# links, /dev with /dev/null bound, and N read-only binds of /usr/share at /b/0...; then
# the rest of the command line runs.
# usage: bench/template.sh TEMPLATE N COMMAND [ARG...]
set -e
t=$1 n=$2
shift 2
mount -t tmpfs -o mode=0755 tmpfs "$t"
mkdir "$t/usr" "$t/proc" "$t/sys" "$t/dev" "$t/tmp" "$t/old" "$t/b"
mount --rbind /usr "$t/usr"
mount -o remount,bind,ro "$t/usr"
for l in bin sbin lib lib64; do ln -s "usr/$l" "$t/$l"; done
mount -t tmpfs -o mode=0755,nosuid tmpfs "$t/dev"
mkdir "$t/dev/pts"
: >"$t/dev/null"
mount --bind /dev/null "$t/dev/null"
i=0
while [ "$i" -lt "$n" ]; do
	mkdir "$t/b/$i"
	mount --rbind /usr/share "$t/b/$i"
	mount -o remount,bind,ro "$t/b/$i"
	i=$((i + 1))
done
exec "$@"
