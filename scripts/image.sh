#!/usr/bin/env bash
# attnpaths second main job: the one-shot image experiment end to end on this machine (no SLURM),
# docs/model.md §5.2 and §6: episodes -> GD training -> theory grid on the trained attention -> temperature
# selection on the validation set -> HMC sampling at the selected temperatures -> compare -> head scores and
# pruning -> report (results/image/report/report.md).
#   scripts/image.sh [--tiny] [--from STAGE] [RESULTS_DIR]   (default results/image, results/image-tiny with --tiny)
# --from STAGE skips the stages before STAGE (data, train, theory, select, sample, compare, prune, report)
# and reuses their outputs in RESULTS_DIR, e.g. to go on after a failed or interrupted stage.
# The settings are those of the SLURM image pipeline: jobs/config/image/ (the paper's sizes: P = 600,
# 4000 training steps, the 10 x 10 width x temperature grid, 4 chains at N = 10; about an hour on
# 2 cores, README) or, with --tiny, tests/slurm/tiny_image/ (40 episodes per set, a 16-wide network,
# a 2 x 2 grid: about a minute). CONFIG=DIR uses another options directory laid out the same way.
# Every stage runs with mpirun on all cores (`nproc`, or RANKS=n); the sampler runs one rank per chain.
# Set-up first (scripts/setup.sh: packages and build, skipped with NO_SETUP=1). Reruns recompute
# everything (--overwrite); per-stage times go to RESULTS_DIR/timings.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
tiny=0 from=""
while [[ ${1:-} == --* ]]; do
  case $1 in
    --tiny) tiny=1; shift ;;
    --from) from=${2:?--from needs a stage name}; shift 2 ;;
    *) echo "image: unknown option '$1' (usage: scripts/image.sh [--tiny] [--from STAGE] [RESULTS_DIR])" >&2; exit 2 ;;
  esac
done
case $from in ""|data|train|theory|select|sample|compare|prune|report) ;;
  *) echo "image: --from '$from' is not a stage (data train theory select sample compare prune report)" >&2; exit 2 ;;
esac
if ((tiny)); then CONFIG=${CONFIG:-tests/slurm/tiny_image}; out=${1:-results/image-tiny}; else
  CONFIG=${CONFIG:-jobs/config/image}; out=${1:-results/image}; fi
[[ ${NO_SETUP:-0} == 1 ]] || scripts/setup.sh
src=$PWD
CONFIG=$(cd "$CONFIG" && pwd)
bin=${ATTNPATHS:-$src/build/bin/attnpaths}
ranks=${RANKS:-$(nproc)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1      # one rank per core
# Full size on this machine samples N = 10 only: N = 500 costs hours on 2 cores (README). Set
# SAMPLE_WIDTHS='10 500' to sample the plan's widths as the SLURM pipeline does.
((tiny)) || : "${SAMPLE_WIDTHS=10}"
# shellcheck disable=SC1090,SC1091
source "$CONFIG/plan.env"                               # SAMPLE_WIDTHS (the plan of the SLURM pipeline)
mkdir -p "$out"/{data,train,theory,select,samples,compare,prune,report,logs}
out=$(cd "$out" && pwd)
printf 'stage\tseconds\n' >"$out/timings.tsv"
t_all=$(date +%s.%N)
# stage NAME COMMAND… — runs it with its log in logs/NAME.log and records its wall time
# (skipped, outputs reused, while --from has not reached NAME's stage; sample_N10 belongs to 'sample').
stage() {
  local name=$1 t0
  shift
  if [[ -n $from ]]; then
    if [[ ${name%%_*} != "$from" ]]; then echo "   skipped: $name (--from $from)"; return; fi
    from=""
  fi
  t0=$(date +%s.%N)
  if ! "$@" >"$out/logs/$name.log" 2>&1; then
    tail -20 "$out/logs/$name.log" >&2
    echo "image: stage '$name' failed (log: $out/logs/$name.log)" >&2
    exit 1
  fi
  printf '%s\t%.1f\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" | tee -a "$out/timings.tsv" | sed 's/^/   done: /'
}
opt() { echo "--config $CONFIG/$1.toml"; }
cd "$out"

echo "== 1. data: one-shot Omniglot episodes (train, validation, test) and MNIST out of distribution ($CONFIG)"
# shellcheck disable=SC2046
stage data "$bin" $(opt data) data omniglot --overwrite -o data/omniglot.h5
echo "== 2. gradient-descent training on $ranks ranks; the dataset with the trained attention"
# shellcheck disable=SC2046
stage train mpirun -n "$ranks" "$bin" $(opt train) train --data data/omniglot.h5 --overwrite -o train/model.h5 \
  --output-data data/trained.h5
echo "== 3. theory on the trained attention over the width x temperature grid ($ranks ranks)"
# shellcheck disable=SC2046
stage theory mpirun -n "$ranks" "$bin" $(opt theory) theory --data data/trained.h5 --overwrite -o theory/image.h5
echo "== 4. temperature selection on the validation set"
stage select "$bin" select theory/image.h5 --overwrite -o select/image.h5
sed -n '/^temperature selection/,$p' logs/select.log | sed 's/^/   /'
chains=$(/usr/bin/python3 "$src/jobs/lib/toml_get.py" "$CONFIG/sample.toml" sample.chains)
for w in ${SAMPLE_WIDTHS}; do
  t=$(/usr/bin/python3 "$src/jobs/lib/results_query.py" selected-temperature select/image.h5 "$w")
  echo "== 5. HMC sampling at N = $w, Temp $t (selected), $chains chains"
  # shellcheck disable=SC2046
  stage "sample_N$w" mpirun -n "$chains" "$bin" $(opt sample) sample --data data/trained.h5 --width "$w" \
    --temperature "$t" --chains "$chains" --overwrite -o "samples/image_N$w.h5"
done
if compgen -G "samples/image_N*.h5" >/dev/null; then
  stage compare "$bin" compare --theory theory/image.h5 --samples samples/image_N*.h5 --overwrite -o compare/image.h5
fi
echo "== 6. head scores from the theory U_1 and pruning of the GD network"
# shellcheck disable=SC2046
stage prune mpirun -n "$ranks" "$bin" $(opt prune) prune --data data/trained.h5 --theory theory/image.h5 \
  --selection select/image.h5 --model train/model.h5 --overwrite -o prune/image.h5
echo "== 7. report"
stage report /usr/bin/python3 "$src/analysis/image_report.py" "$out" -o "$out/report"
printf '\nimage job done in %.1f s on %s ranks; results in %s; the report is %s\n' \
  "$(echo "$(date +%s.%N) - $t_all" | bc)" "$ranks" "$out" "$out/report/report.md"
