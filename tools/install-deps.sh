#!/usr/bin/env bash
# Installs everything Sluice needs to build, test and benchmark on Debian 12, from Debian's own
# packages. Later issues should rarely need to touch this list: the TLS, DNS, IPC and daemon
# dependencies and the test peers (dnsmasq, socat, stunnel, openssl) are all here already.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config git clang clang-format clang-tidy libclang-rt-14-dev
    # libraries (README "Dependencies")
    libssl-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libc-ares-dev
    libinih-dev libsystemd-dev check
    # real peers and tools the tests start
    openssl dnsmasq-base socat stunnel4 systemd iproute2 procps python3 util-linux
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${packages[@]}"
