#!/bin/bash
# The whole container start: nsclone -mupin mkroot DIR true against bwrap
# --unshare-all with the same read-only binds, /proc, /dev and a tmpfs root,
# interleaved in one run; then the cost of each extra read-only bind for both.
# Needs root, gcc, bwrap, a release build. Usage: bench/mkroot.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-300}
out=$(mktemp -d)
trap 'rmdir "$out/r" 2>/dev/null; rm -rf "$out"' EXIT
make -s build >/dev/null
gcc -O2 -o "$out/pairs" bench/pairs.c
B=$PWD/target/shipped
true=$(type -P true)

# bwrap with what mkroot's fresh root holds.
bwrap_base=(bwrap --unshare-all --tmpfs / --ro-bind /usr /usr)
for d in bin sbin lib lib32 lib64 libx32; do
	if [ -L "/$d" ]; then bwrap_base+=(--symlink "$(readlink "/$d")" "/$d")
	elif [ -d "/$d" ]; then bwrap_base+=(--ro-bind "/$d" "/$d"); fi
done
[ -d /etc/alternatives ] && bwrap_base+=(--ro-bind /etc/alternatives /etc/alternatives)
[ -f /etc/ld.so.cache ] && bwrap_base+=(--ro-bind /etc/ld.so.cache /etc/ld.so.cache)
bwrap_base+=(--proc /proc --dev /dev --ro-bind /sys /sys --tmpfs /tmp)

extra() { # N tool: N extra read-only binds of /usr/share
	local i
	for ((i = 0; i < $1; i++)); do
		if [ "$2" = mkroot ]; then printf -- '-r\n/usr/share:/b/%d\n' "$i"; else printf -- '--ro-bind\n/usr/share\n/b/%d\n' "$i"; fi
	done
}

for n in 0 20; do
	mapfile -t m < <(extra "$n" mkroot)
	mapfile -t w < <(extra "$n" bwrap)
	echo "== container start, $n extra read-only binds ($rounds interleaved rounds)"
	"$out/pairs" "$rounds" -- "${bwrap_base[@]}" "${w[@]}" "$true" -- "$B/nsclone" -mupin "$B/mkroot" "${m[@]}" "$out/r" "$true" |
		sed -e "s|$out|DIR|g" -e 's|\(.\{160\}\).*|\1 ...|'
done
