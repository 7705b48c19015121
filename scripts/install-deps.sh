#!/usr/bin/env bash
# Installs the Debian 12 packages vkfd needs to build, test and run ROCm clients. Idempotent: asks apt
# only for what is missing, so it is cheap to call before every build.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ clang-14 libclang-rt-14-dev pkg-config
  libgtest-dev libbenchmark-dev librapidcheck-dev
  libtomlplusplus-dev libcli11-dev libdrm-dev linux-libc-dev nlohmann-json3-dev
  libhsakmt-dev libhsakmt1 libhsa-runtime-dev libhsa-runtime64-1 rocminfo kmod
  hipcc libamdhip64-dev rocm-device-libs
  gnuplot-nox python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "vkfd: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
