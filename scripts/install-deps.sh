#!/usr/bin/env bash
# Installs the Debian 12 packages kube-customs needs, only those missing.
#   scripts/install-deps.sh build   # compiler, CMake, libraries
#   scripts/install-deps.sh test    # build + the real tools the tests drive
#   scripts/install-deps.sh bench   # build + nginx and wrk for the benchmarks
set -euo pipefail

build=(g++ cmake ninja-build pkg-config openssl ca-certificates
       libboost-dev libssl-dev libsimdjson-dev nlohmann-json3-dev prometheus-cpp-dev
       libyaml-cpp-dev libcpprest-dev libmimalloc-dev zlib1g-dev catch2
       # gRPC and protobuf: the node door's containerd client speaks containerd's gRPC API
       # (C++ generated at build time from node/proto/*.proto by protoc and grpc_cpp_plugin).
       libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev)
# docker.io, containerd and busybox-static: the node tests start a private dockerd of their own
# and import an image made from busybox-static (no registry); they never use a system daemon.
test=(prometheus prometheus-alertmanager unzip curl clang clang-format util-linux
      docker.io containerd busybox-static)
# Tools that may come from elsewhere than Debian (e.g. a Node.js distribution bundling npm):
# installed from Debian only when the command is missing.
test_cmds=(node:nodejs npm:npm)
bench=(nginx-light wrk util-linux time)

wanted=("${build[@]}")
for group in "$@"; do
  case "$group" in
    build) ;;
    test)
      wanted+=("${test[@]}")
      for pair in "${test_cmds[@]}"; do
        command -v "${pair%%:*}" >/dev/null || wanted+=("${pair#*:}")
      done
      ;;
    bench) wanted+=("${bench[@]}") ;;
    *) echo "install-deps: unknown group '$group' (build, test, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
