#!/usr/bin/env bash
# attnpaths set-up: installs the Debian packages the suite needs when they are missing (idempotent;
# nothing else is downloaded), then configures and builds in ./build (Release).
#   scripts/setup.sh            # packages + build
#   scripts/setup.sh --no-build # packages only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin                 # MPI
  libpetsc-real-dev libslepc-real-dev        # PETSc 3.18 (TAO, ScaLAPACK) and SLEPc
  libhdf5-openmpi-dev                        # parallel HDF5
  libopenblas-dev                            # fast BLAS/LAPACK (not pulled in by PETSc)
  libgtest-dev libgmock-dev libbenchmark-dev # tests
  libcli11-dev libfmt-dev libeigen3-dev librandom123-dev
  libzip-dev libpng-dev zlib1g-dev           # Omniglot zips, PNG decoding, gzip'd MNIST IDX files
  python3-numpy python3-h5py python3-matplotlib python3-scipy  # analysis (/usr/bin/python3)
  python3-pil                                # tests: the independent Pillow resize of the image tokens
  slurmctld slurmd slurm-client munge        # the local SLURM cluster of the job tests
  xxhash                                     # xxhsum, to check the checksums recorded in files
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install packages" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

[[ "${1:-}" == "--no-build" ]] && exit 0

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if ! cmake --build build -j "$jobs" > build/build.log 2>&1; then
  grep -E "error|Error" build/build.log | head -40 >&2
  echo "setup: build failed (full log: build/build.log)" >&2
  exit 1
fi
echo "setup: built build/bin/attnpaths"
