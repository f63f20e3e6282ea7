#!/bin/sh
# A container's life as an engine drives an OCI runtime, one command each:
# create, start, delete --force (the process, sh -c true, may still run).
# usage: bench/lifecycle.sh RUNTIME STATE-ROOT BUNDLE ID
set -e
runtime=$1 root=$2 bundle=$3 id=$4
"$runtime" --root "$root" create -b "$bundle" "$id" </dev/null
"$runtime" --root "$root" start "$id"
"$runtime" --root "$root" delete --force "$id"
