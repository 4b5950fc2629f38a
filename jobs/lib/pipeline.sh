# Shared by jobs/markov_pipeline.sbatch and jobs/image_pipeline.sbatch (sourced, not run): the results
# directory, the frozen copies of the options and plan, the logs, and submit(). docs/jobs.md.
#
# attn_pipeline_setup DEFAULT_RESULTS DEFAULT_CONFIG "OPTION FILES" "MEMORY VARIABLES" [RESULTS_DIR]
#   creates RESULTS/{logs,config} and the other directories the stages write (PIPELINE_DIRS), moves the
#   pipeline job's own Slurm log there when it ends, copies CONFIG's option files (those listed must
#   exist; select.toml is copied when present) and the plan into RESULTS/config, sources the plan, checks
#   that it sets every memory variable, and clears the SLURM_* variables of the pipeline job.
attn_pipeline_setup() {
  local default_results=$1 default_config=$2 tomls=$3 mems=$4 f v
  RESULTS=${5:-${RESULTS:-${SLURM_SUBMIT_DIR:-$PWD}/$default_results}}
  mkdir -p "$RESULTS"/logs "$RESULTS"/config || { echo "pipeline: cannot create the results directory $RESULTS" >&2; exit 2; }
  for f in ${PIPELINE_DIRS:-}; do mkdir -p "$RESULTS/$f"; done
  RESULTS=$(cd "$RESULTS" && pwd)
  export RESULTS
  # Under sbatch, Slurm opened this job's output file in the submit directory before the results
  # directory existed: move it under RESULTS/logs when the job ends (nothing is written after that).
  own_log=$(scontrol show job "${SLURM_JOB_ID:-}" 2>/dev/null | sed -n 's/^ *StdOut=\(.*\)$/\1/p' || true)
  if [[ -n $own_log && -f $own_log && $own_log != "$RESULTS"/logs/* ]]; then
    trap 'mv -f "$own_log" "$RESULTS/logs/" 2>/dev/null || true' EXIT
  fi
  exec > >(tee -a "$RESULTS/logs/pipeline.log") 2>&1

  CONFIG=${CONFIG:-$default_config}
  PLAN=${PLAN:-$CONFIG/plan.env}
  for f in $tomls; do
    [[ -f $CONFIG/$f ]] || { echo "pipeline: $CONFIG/$f not found (CONFIG must hold $tomls)" >&2; exit 2; }
  done
  [[ -f $PLAN ]] || { echo "pipeline: the plan $PLAN not found" >&2; exit 2; }
  # The stage jobs read frozen copies, so editing the repository while they queue changes nothing.
  src_config=$(cd "$CONFIG" && pwd)
  if [[ $src_config != "$RESULTS/config" ]]; then   # (re-running from a results directory's own copy)
    for f in $tomls select.toml; do
      if [[ -f $CONFIG/$f ]]; then cp "$CONFIG/$f" "$RESULTS/config/"; fi
    done
  fi
  [[ $(realpath "$PLAN") == $(realpath -m "$RESULTS/config/plan.env") ]] || cp "$PLAN" "$RESULTS/config/plan.env"
  export CONFIG=$RESULTS/config
  # shellcheck disable=SC1090
  source "$RESULTS/config/plan.env"
  for v in $mems; do   # sbatch --mem of each stage (per node)
    [[ -n ${!v:-} ]] || { echo "pipeline: $v is not set in $PLAN (memory per node of that stage, e.g. 2G)" >&2; exit 2; }
  done
  export SAMPLE_WIDTHS ATTNPATHS=${ATTNPATHS:-attnpaths} PYTHON=${PYTHON:-/usr/bin/python3}
  if [[ $ATTNPATHS == */* ]]; then ATTNPATHS=$(cd "$(dirname "$ATTNPATHS")" && pwd)/$(basename "$ATTNPATHS"); fi

  # Jobs submitted from inside a job would inherit its SLURM_* variables (task counts, memory):
  # clear them so each stage gets exactly what it asks for. SLURM_CONF (which cluster) is kept.
  for v in $(compgen -e); do
    if [[ $v == SLURM_* && $v != SLURM_CONF ]]; then unset "$v"; fi
  done
  jobs_tsv=$RESULTS/logs/pipeline_jobs.tsv
  printf 'stage\tjob\n' >"$jobs_tsv"
}

# submit STAGE MEM [sbatch options…] SCRIPT [script arguments…]  -> prints the job id. The log goes to
# RESULTS/logs/<job name>-<job id>.out (arrays: -<array job id>_<task>.out); MEM is sbatch --mem.
submit() {
  local stage=$1 mem=$2 id out=$RESULTS/logs/%x-%j.out
  shift 2
  [[ " $* " == *" --array="* ]] && out=$RESULTS/logs/%x-%A_%a.out
  id=$(sbatch --parsable --chdir="$RESULTS" --kill-on-invalid-dep=yes --output="$out" --mem="$mem" "$@")
  id=${id%%;*}
  printf '%s\t%s\n' "$stage" "$id" >>"$jobs_tsv"
  echo "submitted $stage: job $id ($*)" >&2
  echo "$id"
}
