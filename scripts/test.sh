#!/usr/bin/env bash
# attnpaths test suite: set-up (build and test-only packages + build with the tests) and every test (unit, MPI at 1/2/4 ranks,
# end-to-end, analysis, the local SLURM cluster). CI runs exactly this (.ci/run).
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # extra arguments go to ctest (e.g. -L mpi, -R theory)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
