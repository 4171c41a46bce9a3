#!/usr/bin/env bash
# Installs the Debian packages lutra needs that dpkg says are missing.
# Safe to run repeatedly: it only touches packages that are absent.
set -eu

packages=(
    liblua5.4-dev lua5.4          # the embedded interpreter and the C module's headers
    libpng-dev zlib1g-dev         # PNG curves; IDX .gz data
    libdnnl-dev                   # oneDNN 2.6 (v2 C API): the fast CPU path
    libedit-dev                   # the REPL's line editing
    libjansson-dev                # metrics.jsonl and safetensors headers
    dataset-fashion-mnist         # the default training data
    fortunes                      # examples/char_gpt.lua's text
    libcmocka-dev                 # the C test framework
    lua-busted                    # the Lua test framework
    libomp-14-dev                 # omp.h for clang's syntax check
    libopenmpi-dev openmpi-bin    # data-parallel ranks: mpicc's flags, mpirun
    iproute2                      # the two-host test's network namespaces (ip netns)
)

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
