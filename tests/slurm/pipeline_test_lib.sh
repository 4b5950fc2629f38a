# Shared by the SLURM pipeline tests (tests/slurm/test_pipeline.sh, test_image_pipeline.sh); sourced
# after `set -uo pipefail`. Sets, from the ctest environment (ATTNPATHS_BINARY, ATTNPATHS_SOURCE_DIR,
# ATTNPATHS_TEST_TMP, PYTHON) and PIPELINE_TEST (the scratch folder's name, set by the test):
# SRC, BIN, PY, DEADLINE_S, T0 (start time), SCRATCH, RES, CLUSTER.
SRC=${ATTNPATHS_SOURCE_DIR:?}
BIN=${ATTNPATHS_BINARY:?}
PY=${PYTHON:-/usr/bin/python3}
DEADLINE_S=${SLURM_TEST_DEADLINE:-540}   # below the ctest TIMEOUT, so that the cleanup always runs
T0=$(date +%s)
SCRATCH=${ATTNPATHS_TEST_TMP:?}/${PIPELINE_TEST:?}
RES=$SCRATCH/results
CLUSTER=$SCRATCH/cluster

fail() { echo "FAIL: $*" >&2; exit 1; }
elapsed() { echo $(($(date +%s) - T0)); }
log() { echo "[$(printf '%4s' "$(elapsed)")s] $*"; }

# the SLURM and munge binaries and the attnpaths commands the test needs: a clear failure, never a silent pass
require_cluster_and_commands() {  # require_cluster_and_commands BIN "COMMAND"…
  local bin=$1 c
  shift
  for c in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
    [[ -x $c ]] || fail "SLURM/munge not installed ($c missing): run scripts/setup.sh --test (apt-get install slurmctld slurmd slurm-client munge)"
  done
  [[ -x $bin ]] || fail "attnpaths binary $bin missing (build first)"
  for c in "$@"; do
    # shellcheck disable=SC2086
    "$bin" $c --help >/dev/null 2>&1 || fail "'attnpaths $c' is not available in $bin"
  done
}

# a fresh scratch directory, the cleanup trap, and the one-node cluster (SLURM_CONF exported); ends in $SCRATCH
start_scratch_cluster() {
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH"
  trap cleanup EXIT
  trap 'fail "interrupted"' INT TERM
  "$SRC/tests/slurm/local_cluster.sh" start "$CLUSTER" || fail "could not start the local SLURM cluster"
  export SLURM_CONF=$CLUSTER/slurm.conf
  log "cluster up"
  cd "$SCRATCH" || fail "no scratch directory"
}

# always stop the daemons (by PID), and on failure print what the jobs and daemons said
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "---- diagnostics (test failed with $rc) ----"
    export SLURM_CONF=$CLUSTER/slurm.conf
    squeue -a -o '%.10i %.20j %.8T %.10M %R' 2>/dev/null || true
    for f in "$RES"/logs/*.out "$RES"/logs/*.exit "$SCRATCH"/*pipeline-*.out; do
      [[ -f $f ]] && { echo "---- $f"; tail -25 "$f"; }
    done
    for f in "$CLUSTER"/log/slurmctld.log "$CLUSTER"/log/slurmd.log; do
      [[ -f $f ]] && { echo "---- $f"; grep -E "error|fatal|Killing|requeue" "$f" | tail -15; }
    done
  fi
  "$SRC/tests/slurm/local_cluster.sh" stop "$CLUSTER" || true
  log "done (exit $rc)"
  exit "$rc"
}

job_field() {  # job_field JOBID FIELD -> value(s) of FIELD= in scontrol show job (one line per array task)
  scontrol show job "$1" 2>/dev/null | grep -oP "(?<=\b$2=)\S+"
}
wait_until() {  # wait_until DESCRIPTION COMMAND… ; polls every 0.5 s within the deadline
  local what=$1
  shift
  until "$@"; do
    (($(elapsed) < DEADLINE_S)) || fail "timed out after $(elapsed) s waiting for: $what"
    sleep 0.5
  done
}

# read_pipeline_jobs: JOB[stage]=id from RESULTS/logs/pipeline_jobs.tsv
read_pipeline_jobs() {
  declare -gA JOB=()
  local stage id
  while IFS=$'\t' read -r stage id; do
    [[ $stage == stage ]] || JOB[$stage]=$id
  done <"$RES/logs/pipeline_jobs.tsv"
}

# queue_empty: every job of JOB has left the queue; a failed stage is reported at once
queue_empty() {
  local bad ids
  ids=$(printf '%s,' "${JOB[@]}")
  [[ -z $(squeue -h -j "${ids%,}" -o %i 2>/dev/null) ]] && return 0
  # a failed stage cancels its dependants (--kill-on-invalid-dep): report it at once
  bad=$(for st in "${!JOB[@]}"; do job_field "${JOB[$st]}" JobState | grep -qE "FAILED|TIMEOUT|NODE_FAIL|OUT_OF_ME" && echo "$st"; done)
  [[ -z $bad ]] || fail "stage(s) failed: $bad"
  return 1
}

# every job COMPLETED with exit code 0:0 (controller state; no accounting storage here, so not sacct)
check_all_completed() {
  local st states codes
  for st in "${!JOB[@]}"; do
    states=$(job_field "${JOB[$st]}" JobState | sort -u | tr '\n' ' ')
    codes=$(job_field "${JOB[$st]}" ExitCode | sort -u | tr '\n' ' ')
    [[ $states == "COMPLETED " && $codes == "0:0 " ]] || fail "stage $st (job ${JOB[$st]}): JobState=$states ExitCode=$codes"
  done
}

# check_order LATER EARLIER… — no stage started before its predecessors ended (afterok honoured)
epoch() { date -d "$1" +%s; }
first_start() { job_field "$1" StartTime | while read -r t; do epoch "$t"; done | sort -n | head -1; }
last_end() { job_field "$1" EndTime | while read -r t; do epoch "$t"; done | sort -n | tail -1; }
check_order() {
  local later=$1 s e earlier
  shift
  s=$(first_start "${JOB[$later]}")
  for earlier in "$@"; do
    e=$(last_end "${JOB[$earlier]}")
    ((s >= e)) || fail "stage $later started ($s) before $earlier ended ($e): dependency not honoured"
  done
}

# check_markers N — N exit markers in RESULTS/logs, each recording success
check_markers() {
  local m markers=("$RES"/logs/*.exit)
  ((${#markers[@]} == $1)) || fail "expected $1 exit markers, found ${#markers[@]}: ${markers[*]}"
  for m in "${markers[@]}"; do
    grep -qx 'state=ok' "$m" && grep -qx 'exit=0' "$m" || fail "$m does not record success: $(tr '\n' ' ' <"$m")"
  done
}
