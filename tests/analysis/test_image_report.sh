#!/bin/bash
# ctest analysis_image_report (label analysis): analysis/image_report.py on a tiny image experiment made
# now by the real binary (40 episodes per set, a 16-wide network trained for a few steps, theory on a
# 2 x 2 grid, HMC at N = 10 at the selected temperature, prune), without SLURM:
#  1. full results: every figure present and valid, every number in the report equal to the HDF5 files
#     (tests/analysis/check_image_report.py);
#  2. degraded (no samples, no prune, per-temperature theory files): the report still appears, merges the
#     files, and reports exactly the missing inputs and figures with the reason;
#  3. the checker must catch a changed number.
# Environment (set by ctest): ATTNPATHS_BINARY, ATTNPATHS_SOURCE_DIR, ATTNPATHS_TEST_TMP, PYTHON.
set -euo pipefail

SRC=${ATTNPATHS_SOURCE_DIR:?}
BIN=${ATTNPATHS_BINARY:?}
PY=${PYTHON:-/usr/bin/python3}
WORK=${ATTNPATHS_TEST_TMP:?}/analysis_image_report
CONF=$SRC/tests/slurm/tiny_image      # the same test-size options as the SLURM image pipeline test
T0=$(date +%s)
log() { echo "[$(printf '%4s' $(($(date +%s) - T0)))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; fail "command failed: $*"; }; }
for c in "data omniglot" train theory select sample compare prune; do
  # shellcheck disable=SC2086
  "$BIN" $c --help >/dev/null 2>&1 || fail "'attnpaths $c' is not available in $BIN"
done

rm -rf "$WORK"
R=$WORK/full
mkdir -p "$R"/{data,train,theory,select,samples,compare,prune}
cd "$R"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
run "$BIN" --config "$CONF/data.toml" data omniglot -o data/omniglot.h5
run "$BIN" --config "$CONF/train.toml" train --data data/omniglot.h5 --steps 40 -o train/model.h5 --output-data data/trained.h5
run "$BIN" --config "$CONF/theory.toml" theory --data data/trained.h5 -o theory/image.h5
run "$BIN" select theory/image.h5 -o select/image.h5
T10=$("$PY" "$SRC/jobs/lib/results_query.py" selected-temperature select/image.h5 10)
run mpirun -n 2 "$BIN" --config "$CONF/sample.toml" sample --data data/trained.h5 --width 10 --temperature "$T10" \
  --chains 2 -o samples/image_N10.h5
run "$BIN" compare --theory theory/image.h5 --samples samples/image_N10.h5 -o compare/image.h5
run "$BIN" prune --data data/trained.h5 --theory theory/image.h5 --selection select/image.h5 --model train/model.h5 \
  -o prune/image.h5
log "results made by $BIN (selected Temp at N = 10: $T10)"

ALL=accuracy_vs_n,u1_maps,alignment,head_scores,pruning_curve
out=$("$PY" "$SRC/analysis/image_report.py" "$R" -o "$R/report") || fail "image_report.py failed: $out"
echo "$out"
"$PY" "$SRC/tests/analysis/check_image_report.py" "$R/report" "$R" --figures "$ALL" || fail "full report does not match its results"
grep -q "Validation set: \`.*:/validation\`" "$R/report/report.md" || fail "the report does not state the validation set"
log "full report checked"

# ---- 2. degraded: per-temperature theory files, no samples, no prune --------------------------------------
D=$WORK/degraded
mkdir -p "$D"/{data,train,theory/image,select}
cp "$R/data/trained.h5" "$D/data/"
cp "$R/train/model.h5" "$D/train/"
cd "$D"
for t in 0.1 0.5; do
  run "$BIN" --config "$CONF/theory.toml" theory --data data/trained.h5 --temperatures "$t" -o "theory/image/T$t.h5"
done
run "$BIN" select theory/image/T0.1.h5 theory/image/T0.5.h5 -o select/image.h5
out=$("$PY" "$SRC/analysis/image_report.py" "$D" -o "$D/report") || fail "image_report.py failed on partial results: $out"
echo "$out"
"$PY" "$SRC/tests/analysis/check_image_report.py" "$D/report" "$D" --figures accuracy_vs_n,u1_maps,alignment \
  --skipped head_scores,pruning_curve \
  --missing "posterior samples,theory vs samples (\`attnpaths compare\`),head scores and pruning" ||
  fail "degraded report wrong"
grep -q "sampled U₁, N = 10: \*\*missing\*\* — no samples" report/report.md || fail "the missing sampled U_1 map is not reported"
log "degraded report checked"

# ---- 3. the checker must notice a changed number -----------------------------------------------------------
cp -r "$R/report" "$WORK/tampered"
"$PY" - "$WORK/tampered/report.md" <<'PYEOF'
import sys
p = sys.argv[1]; lines = open(p).read().split("\n")
i = lines.index(next(l for l in lines if l.startswith("<!-- table:image-accuracy"))) + 3
cells = lines[i].split("|")
cells[2] = f" {float(cells[2]) + 0.01:.2f} "
lines[i] = "|".join(cells); open(p, "w").write("\n".join(lines))
PYEOF
if "$PY" "$SRC/tests/analysis/check_image_report.py" "$WORK/tampered" "$R" --figures "$ALL" >"$WORK/tamper.log" 2>&1; then
  fail "check_image_report accepted a report with a changed number"
fi
grep -q "image-accuracy/10/test/theory: printed" "$WORK/tamper.log" || { cat "$WORK/tamper.log"; fail "wrong failure for a changed number"; }
log "PASS"
