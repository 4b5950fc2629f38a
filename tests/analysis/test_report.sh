#!/bin/bash
# ctest analysis_report (label analysis): analysis/report.py on small results made now by the real
# attnpaths binary (Markov task, P = 20, Q = 50, widths 10 and 30), without SLURM.
#  1. full results (theory grid on 2 ranks, GP-only baselines, samples at both widths, compare):
#     every figure present and valid, every number in the report equal to the HDF5 files;
#  2. degraded results (theory as per-cell files of a job array, no samples, no 2-path task, no
#     baselines): the report still appears, merges the cells, and skips exactly the figures it cannot draw;
#  3. the checker itself must catch a changed number and a truncated PNG.
# Environment (set by ctest): ATTNPATHS_BINARY, ATTNPATHS_SOURCE_DIR, ATTNPATHS_TEST_TMP, PYTHON.
set -euo pipefail

SRC=${ATTNPATHS_SOURCE_DIR:?}
BIN=${ATTNPATHS_BINARY:?}
PY=${PYTHON:-/usr/bin/python3}
WORK=${ATTNPATHS_TEST_TMP:?}/analysis_report
CONF=$SRC/tests/slurm/tiny       # the same test-size options as the SLURM pipeline test
T0=$(date +%s)
log() { echo "[$(printf '%4s' $(($(date +%s) - T0)))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$@" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; fail "command failed: $*"; }; }
mpi2() { local cmd=$1; run mpirun -n 2 "$BIN" --config "$CONF/$cmd.toml" "$@"; }

rm -rf "$WORK"
mkdir -p "$WORK/full"/{data,theory,samples,compare} "$WORK/degraded"/{data,theory/markov4}
cd "$WORK/full"

# ---- 1. full results with the real binary ------------------------------------------------------------
run "$BIN" --config "$CONF/data.toml" data markov --heads 4paths -o data/markov4.h5
run "$BIN" --config "$CONF/data.toml" data markov --heads 2paths --noise-out-of-plane 5 -o data/markov2_noisy.h5
run "$BIN" --config "$CONF/data.toml" data markov --heads good -o data/markov_g.h5
run "$BIN" --config "$CONF/data.toml" data markov --heads good+denoising -o data/markov_gd.h5
mpi2 theory --data data/markov4.h5 --temperatures 0.01 -o theory/markov4.h5
mpi2 theory --data data/markov2_noisy.h5 --temperatures 0.01 -o theory/markov2_noisy.h5
run "$BIN" --config "$CONF/theory.toml" theory --data data/markov_g.h5 --temperatures 0.01 --gp-only -o theory/markov_g.h5
run "$BIN" --config "$CONF/theory.toml" theory --data data/markov_gd.h5 --temperatures 0.01 --gp-only -o theory/markov_gd.h5
for w in 10 30; do
  mpi2 sample --data data/markov4.h5 --width "$w" --temperature 0.01 --chains 2 --warmup 100 --draws 100 \
    -o "samples/markov4_N$w.h5"
done
run "$BIN" compare --theory theory/markov4.h5 --samples samples/markov4_N10.h5 samples/markov4_N30.h5 \
  -o compare/markov4.h5
log "results made by $BIN"

ALL=accuracy_vs_width,u1_heatmaps,kernels,alignment,accuracy_two_paths,u1_theory_vs_sampled
out=$("$PY" "$SRC/analysis/report.py" "$WORK/full" -o "$WORK/full/report") || fail "report.py failed: $out"
echo "$out"
grep -q "report: $WORK/full/report/report.md" <<<"$out" || fail "report.py did not print where the report is"
"$PY" "$SRC/tests/analysis/check_report.py" "$WORK/full/report" "$WORK/full" --figures "$ALL" --min-tables 15 ||
  fail "full report does not match its results"
log "full report checked"

# ---- 2. degraded: array-layout theory only --------------------------------------------------------------
cd "$WORK/degraded"
cp "$WORK/full/data/markov4.h5" data/
for w in 10 30; do
  run "$BIN" --config "$CONF/theory.toml" theory --data data/markov4.h5 --widths "$w" --temperatures 0.01 \
    -o "theory/markov4/N${w}_T0.01.h5"
done
out=$("$PY" "$SRC/analysis/report.py" "$WORK/degraded" -o "$WORK/degraded/report") || fail "report.py failed on partial results: $out"
echo "$out"
"$PY" "$SRC/tests/analysis/check_report.py" "$WORK/degraded/report" "$WORK/degraded" \
  --figures accuracy_vs_width,u1_heatmaps,kernels,alignment --skipped accuracy_two_paths,u1_theory_vs_sampled ||
  fail "degraded report wrong"
grep -q '| main: 4 paths (g, a1, d, a2) | `theory/markov4` | theory + GP | 10, 30 |' report/report.md ||
  fail "the two cell files were not merged into one grid"
grep -q "GP baseline: g alone | \`markov_g\` | absent" report/report.md || fail "absent baseline not reported"
log "degraded report checked"

# ---- 2b. the flat layout of scripts/main.sh: GP baselines stored in the main file (--gp-baseline) -----------
FLAT=$WORK/flat
mkdir -p "$FLAT"
cd "$FLAT"
cp "$WORK/full/data/markov4.h5" data_4paths.h5
cp "$WORK/full/data/markov_g.h5" data_good.h5
cp "$WORK/full/data/markov_gd.h5" data_good+denoising.h5
run "$BIN" --config "$CONF/theory.toml" theory --data data_4paths.h5 --temperatures 0.01 \
  --gp-baseline g=data_good.h5 --gp-baseline g+d=data_good+denoising.h5 -o theory_4paths.h5
cp "$WORK/full/theory/markov2_noisy.h5" theory_2paths_noisier.h5
cp "$WORK/full/samples/markov4_N10.h5" samples_N10.h5
out=$("$PY" "$SRC/analysis/report.py" "$FLAT" -o "$FLAT/report" --main theory_4paths --noisy theory_2paths_noisier \
  --samples '*.h5' --compare '*.h5') || fail "report.py failed on the flat layout: $out"
"$PY" "$SRC/tests/analysis/check_report.py" "$FLAT/report" "$FLAT" --figures "$ALL" || fail "flat-layout report wrong"
grep -q '| g + d | 0.01 | .* | `theory_4paths.h5` /baselines/g+d |' report/report.md ||
  fail "the GP baselines stored in the main file were not used"
log "flat-layout (scripts/main.sh) report checked"

# ---- 3. the checker must notice a wrong number and a broken image -----------------------------------------
cp -r "$WORK/full/report" "$WORK/tampered"
# change the first theory accuracy in the accuracy table by one unit in the last digit
"$PY" - "$WORK/tampered/report.md" <<'EOF'
import re, sys
p = sys.argv[1]; lines = open(p).read().split("\n")
i = lines.index(next(l for l in lines if l.startswith("<!-- table:accuracy-main"))) + 3
cells = lines[i].split("|")
v = float(cells[3]); cells[3] = f" {v + 0.01:.2f} "
lines[i] = "|".join(cells); open(p, "w").write("\n".join(lines))
EOF
if "$PY" "$SRC/tests/analysis/check_report.py" "$WORK/tampered" "$WORK/full" --figures "$ALL" >"$WORK/tamper.log" 2>&1; then
  fail "check_report accepted a report with a changed number"
fi
grep -q "accuracy-main.*theory: printed" "$WORK/tamper.log" || { cat "$WORK/tamper.log"; fail "wrong failure for a changed number"; }
cp -r "$WORK/full/report" "$WORK/truncated"
head -c 3000 "$WORK/full/report/kernels.png" >"$WORK/truncated/kernels.png"
if "$PY" "$SRC/tests/analysis/check_report.py" "$WORK/truncated" "$WORK/full" --figures "$ALL" >"$WORK/trunc.log" 2>&1; then
  fail "check_report accepted a truncated PNG"
fi
log "PASS"
