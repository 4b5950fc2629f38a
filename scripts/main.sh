#!/usr/bin/env bash
# attnpaths main job: the paper's hidden-Markov-chain experiments end to end (docs/model.md §5.1).
#   scripts/main.sh [RESULTS_DIR]        (default results/markov4)
# Set-up first: the Debian packages of the build and the analysis only (scripts/setup.sh; nothing for
# the tests, no system services), and the build of the command; then data -> theory (+ GP baselines)
# -> sampling -> compare -> report. Prints the accuracy table and where everything is.
# Reruns recompute everything (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-results/markov4}
mkdir -p "$out"
bin=build/bin/attnpaths
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Threads: `theory` picks one layer itself (OpenBLAS on every core, OpenMP off) when neither
# OMP_NUM_THREADS nor OPENBLAS_NUM_THREADS is set; the other commands use every core by default.
widths=10,30,50,100,300,500,1000
start=$(date +%s.%N)

echo "== 1. data: the 4-path task and, on the same sequences, the heads of the GP baselines"
for heads in 4paths good good+denoising; do
  "$bin" data markov --heads "$heads" --overwrite -o "$out/data_$heads.h5" > "$out/data_$heads.log"
done
"$bin" data markov --heads 2paths --noise-out-of-plane 5 --overwrite -o "$out/data_2paths_noisier.h5" > "$out/data_2paths_noisier.log"
echo "   wrote $out/data_{4paths,good,good+denoising,2paths_noisier}.h5"

echo "== 2. theory: N = $widths at Temp = 0.01, with the GP baselines (all paths; g alone; g+d)"
"$bin" theory --data "$out/data_4paths.h5" --widths "$widths" --temperatures 0.01 \
  --gp-baseline "g=$out/data_good.h5" --gp-baseline "g+d=$out/data_good+denoising.h5" \
  --overwrite -o "$out/theory_4paths.h5" | tee "$out/theory_4paths.log" | sed -n '/^Temp = /,$p'
"$bin" theory --data "$out/data_2paths_noisier.h5" --widths "$widths" --temperatures 0.01 \
  --overwrite -o "$out/theory_2paths_noisier.h5" > "$out/theory_2paths_noisier.log"
echo "   (the noisier 2-path task: $out/theory_2paths_noisier.log)"

echo "== 3. posterior sampling: a short NUTS run at N = 100 (2 chains), then theory vs samples"
# A demonstration, not the acceptance run (docs/sampling.md: 4 chains × 1000 draws at N = 10, 100, 1000).
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun -n 2 "$bin" sample --data "$out/data_4paths.h5" --width 100 --temperature 0.01 --chains 2 \
  --warmup 150 --draws 150 --seed 1 --overwrite -o "$out/samples_4paths_N100.h5" > "$out/samples_4paths_N100.log"
grep -E "^(sampled|R-hat|diagnostics|accuracy)" "$out/samples_4paths_N100.log" | sed 's/^/   /' || true
"$bin" compare --theory "$out/theory_4paths.h5" --samples "$out/samples_4paths_N100.h5" \
  --overwrite -o "$out/compare_4paths.h5" | tee "$out/compare_4paths.log"

echo "== 4. robustness: Lipschitz bounds per head and path, and accuracy under perturbed inputs (N = 10, 1000; GP)"
# 200 of the 1000 test sequences (spread evenly), random perturbations only: ~10 s. The adversarial
# curves (--perturbations ...,adversarial) cost ~2 min more here; docs/robustness.md.
"$bin" robustness --data "$out/data_4paths.h5" --theory "$out/theory_4paths.h5" --widths 10,1000 \
  --test-examples 200 --lipschitz-examples 8 --epsilons 0,0.005,0.01,0.02,0.05,0.1,0.2 --perturbations gaussian,replace --overwrite \
  -o "$out/robustness_4paths.h5" > "$out/robustness_4paths.log"
sed -n "/^accuracy under 'gaussian'/,/^accuracy under 'replace'/p" "$out/robustness_4paths.log" | sed '$d; s/^/   /'

# ==== report (added by the jobs/analysis helper; docs/analysis.md) ================================
# Figures (PNG + PDF) and a Markdown report with every table read back from the HDF5 files above.
echo "== report: figures and tables from the HDF5 results (analysis/report.py)"
/usr/bin/python3 analysis/report.py "$out" -o "$out/report" --main theory_4paths --noisy theory_2paths_noisier \
  --samples '*.h5' --compare '*.h5' --robustness "$out/robustness_4paths.h5" > "$out/report.log"
sed -n 's/^report: /   report: /p; s/^  skipped /   skipped /p' "$out/report.log"
# ==== end of the report step ========================================================================

printf '\nmain job done in %.1f s; results in %s; the report is %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$out" "$out/report/report.md"
