#!/usr/bin/env bash
# Acceptance runs of the sampler (not a ctest: tens of minutes on 2 cores). Usage:
#   tests/bench/sampling_acceptance.sh BUILD_DIR OUT_DIR [TARGET]
# 4-path Markov task (P = 100, Temp = 0.01), 4 chains × (1000 warm-up + 1000 draws) at N = 10, 100, 1000,
# then the finite-size series at fixed α = P/N = 10 (P/N = 100/10, 400/40, 1600/160). Compares with the
# theory when OUT_DIR/theory.h5 (attnpaths theory, widths 10,100,1000) exists.
set -euo pipefail
BUILD=${1:?build dir}; OUT=${2:?output dir}; TARGET=${3:-path-weights}
BIN="$BUILD/bin/attnpaths"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"; cd "$OUT"
[ -f markov4.h5 ] || "$BIN" data markov --heads 4paths -o markov4.h5 > /dev/null
for N in 10 100 1000; do
  f=samples_N${N}_${TARGET}.h5
  [ -f "$f" ] || { /usr/bin/time -f "N=$N: %e s wall" mpirun -n 4 "$BIN" sample --data markov4.h5 --width $N \
      --temperature 0.01 --chains 4 --draws 1000 --warmup 1000 --target $TARGET -o "$f" --progress-seconds 60 \
      > "log_N${N}_${TARGET}.txt" 2>&1; tail -8 "log_N${N}_${TARGET}.txt"; }
done
# Finite-size scaling at fixed α = P/N = 10.
for PN in 400:40 1600:160; do
  P=${PN%%:*}; N=${PN##*:}
  [ -f markov4_P$P.h5 ] || "$BIN" data markov --heads 4paths -P $P -o markov4_P$P.h5 > /dev/null
  f=samples_P${P}_N${N}_${TARGET}.h5
  [ -f "$f" ] || { /usr/bin/time -f "P=$P N=$N: %e s wall" mpirun -n 4 "$BIN" sample --data markov4_P$P.h5 --width $N \
      --temperature 0.01 --chains 4 --draws 1000 --warmup 1000 --target $TARGET -o "$f" --progress-seconds 60 \
      > "log_P${P}_N${N}_${TARGET}.txt" 2>&1; tail -8 "log_P${P}_N${N}_${TARGET}.txt"; }
done
if [ -f theory.h5 ]; then
  "$BIN" compare --theory theory.h5 --samples samples_N10_${TARGET}.h5 samples_N100_${TARGET}.h5 \
      samples_N1000_${TARGET}.h5 -o compare_${TARGET}.h5
fi
