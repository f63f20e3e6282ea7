#!/bin/bash
# podman run --rm wall time with nsrun and with runc, interleaved (bench/pairs),
# in tests/oci/fence with podman's storage in WORK.
#   bench/podman.sh PAIRS ROUNDS NSRUN WORK IMAGE_TAR
set -eu
pairs=$1 rounds=$2 nsrun=$3 work=$4 image=$5
mkdir -p "$work/graph" "$work/run" "$work/tmp" "$work/net"
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits=["nofile=20000:20000","nproc=32768:32768"]
[engine]
cgroup_manager="cgroupfs"
events_logger="file"
events_logfile_path="$work/events.log"
runtime_supports_json=["nsrun","runc"]
tmp_dir="$work/tmp"
static_dir="$work/graph/libpod"
[engine.runtimes]
nsrun=["$nsrun"]
runc=["$(command -v runc)"]
[network]
network_config_dir="$work/net"
CONF
printf '[storage]\ndriver="vfs"\ngraphroot="%s/graph"\nrunroot="%s/run"\n' "$work" "$work" > "$work/storage.conf"
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
podman import -q "$image" localhost/bench:1 > /dev/null
run() { echo podman --runtime "$1" run --rm --network=none localhost/bench:1 true; }
"$pairs" "$rounds" -- $(run runc) -- $(run nsrun)
podman rmi -a -f > /dev/null 2>&1
