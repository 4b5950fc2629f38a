# Shared by every jobs/*.sbatch script (sourced, not run). docs/jobs.md describes the variables.
#
# Environment a job reads (all optional; sbatch passes the submitting shell's environment):
#   ATTNPATHS        the attnpaths binary                 (default: `attnpaths` on PATH)
#   ATTNPATHS_JOBS   this jobs/ directory                 (default: found from the job's script path)
#   RESULTS          the results directory                (default: the job's working directory, sbatch --chdir)
#   CONFIG           the options directory: one TOML file per command, data.toml, theory.toml,
#                    sample.toml, … (CLI11 format)        (default: $ATTNPATHS_JOBS/config/markov)
#   ATTNPATHS_LAUNCHER  srun (default) or mpirun
#   ATTNPATHS_ENV_SETUP a file sourced at job start (e.g. your `module load` lines)
#   PYTHON           the Python with numpy, h5py, matplotlib (default: /usr/bin/python3)
#
# REAL CLUSTER: put your `module load …` lines (MPI, PETSc, HDF5 matching the build) in a file and
# point ATTNPATHS_ENV_SETUP at it, or uncomment and edit the line below.
# module load openmpi/4.1 petsc/3.18 hdf5/1.10-mpi openblas

# attn_init STAGE — strict mode, threads from the allocation, paths, exit marker, header.
attn_init() {
  set -uo pipefail
  ATTN_STAGE=$1
  if [[ -n ${ATTNPATHS_ENV_SETUP:-} ]]; then
    # shellcheck disable=SC1090
    source "$ATTNPATHS_ENV_SETUP"
  fi
  RESULTS=${RESULTS:-$PWD}   # the job starts in its working directory (sbatch --chdir)
  RESULTS=$(cd "$RESULTS" && pwd) || { echo "attnpaths job: results directory '$RESULTS' missing" >&2; exit 2; }
  CONFIG=${CONFIG:-$ATTNPATHS_JOBS/config/markov}
  ATTNPATHS=${ATTNPATHS:-attnpaths}
  PYTHON=${PYTHON:-/usr/bin/python3}
  mkdir -p "$RESULTS/logs"

  # One BLAS/OpenMP thread pool per rank, sized from the allocation (task/none does no binding).
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS
  # Open MPI refuses to start as root unless told (only the local test cluster runs jobs as root).
  if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi

  # Exit marker next to the results: logs/<stage>[_<array task>].exit, written however the job ends.
  ATTN_MARKER="$RESULTS/logs/${ATTN_STAGE}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}.exit"
  rm -f "$ATTN_MARKER"
  trap 'attn_write_marker $?' EXIT
  # Slurm ends a job (time limit, scancel, requeue) with SIGTERM to the batch shell: pass it on to the
  # ranks and still write the exit marker (bash skips the EXIT trap for an untrapped signal).
  trap 'attn_on_signal TERM' TERM
  trap 'attn_on_signal INT' INT

  echo "=== attnpaths job: stage $ATTN_STAGE, job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}, restart ${SLURM_RESTART_COUNT:-0}"
  echo "    host $(hostname), $(date -Is), ${SLURM_NTASKS:-1} task(s) x $OMP_NUM_THREADS thread(s)"
  echo "    results $RESULTS"
  echo "    options $CONFIG"
  echo "    binary  $(command -v "$ATTNPATHS" || echo "$ATTNPATHS (NOT FOUND)")"
  if ! command -v "$ATTNPATHS" >/dev/null; then
    echo "attnpaths job: cannot find the attnpaths binary '$ATTNPATHS' (set ATTNPATHS or load its module)" >&2
    exit 2
  fi
  if [[ ! -d $CONFIG ]]; then
    echo "attnpaths job: options directory '$CONFIG' not found (set CONFIG; docs/jobs.md)" >&2
    exit 2
  fi
}

attn_write_marker() {
  local rc=$1 state=${ATTN_FINAL_STATE:-}
  if [[ -z $state ]]; then
    if [[ $rc == 0 ]]; then state=ok
    elif [[ -n ${ATTN_SIGNALLED:-} ]]; then state="failed (SIG$ATTN_SIGNALLED)"
    else state=failed; fi
  fi
  printf 'stage=%s\nstate=%s\nexit=%s\njob=%s\narray_task=%s\nrestart=%s\nend=%s\n' "$ATTN_STAGE" "$state" "$rc" \
    "${SLURM_JOB_ID:-none}" "${SLURM_ARRAY_TASK_ID:-}" "${SLURM_RESTART_COUNT:-0}" "$(date -Is)" >"$ATTN_MARKER"
  echo "=== attnpaths job: stage $ATTN_STAGE ended: $state (exit $rc) at $(date -Is)"
}

# attn_run [ARGS…] — runs `attnpaths ARGS…` (global options such as --config go before the subcommand) on every task of the allocation, in the background so
# that the batch shell can forward the pre-timeout signal; returns attnpaths' exit code.
#   srun --mpi=pmix (default) or mpirun (ATTNPATHS_LAUNCHER=mpirun; Open MPI reads the allocation).
attn_run() {
  local launcher=${ATTNPATHS_LAUNCHER:-srun}
  echo "+ $launcher: $ATTNPATHS $*"
  case $launcher in
    srun) srun --mpi=pmix "$ATTNPATHS" "$@" & ;;
    mpirun) mpirun -np "${SLURM_NTASKS:-1}" --bind-to none "$ATTNPATHS" "$@" & ;;
    *) echo "attnpaths job: unknown ATTNPATHS_LAUNCHER '$launcher' (srun|mpirun)" >&2; return 2 ;;
  esac
  ATTN_CHILD=$!
  local rc
  while :; do
    wait "$ATTN_CHILD"; rc=$?
    kill -0 "$ATTN_CHILD" 2>/dev/null || break   # wait returned because a trapped signal arrived
  done
  ATTN_CHILD=
  return "$rc"
}

# attn_forward_signals — also forward the pre-timeout SIGUSR1 (#SBATCH --signal=B:USR1@…) to the ranks:
# srun and mpirun pass it on to every rank, and `attnpaths sample` checkpoints and exits 75.
attn_forward_signals() {
  trap 'attn_on_signal USR1' USR1
}
attn_on_signal() {
  ATTN_SIGNALLED=$1
  local why="time limit near: asking the ranks to checkpoint"
  [[ $1 == USR1 ]] || why="job ending (time limit, scancel or requeue): passing it on to the ranks"
  echo "=== attnpaths job: received SIG$1 at $(date -Is) ($why)"
  if [[ -n ${ATTN_CHILD:-} ]]; then kill -"$1" "$ATTN_CHILD" 2>/dev/null || true; fi
}

# attn_options COMMAND — the options file of a command: $CONFIG/<command>.toml (must exist).
attn_options() {
  local f=$CONFIG/$1.toml
  [[ -f $f ]] || { echo "attnpaths job: options file $f not found" >&2; exit 2; }
  echo "$f"
}

# attn_toml COMMAND TABLE.KEY [DEFAULT] — prints a value of $CONFIG/<command>.toml (a list prints
# space-separated).
attn_toml() {
  local f=$CONFIG/$1.toml
  shift
  "$PYTHON" "$ATTNPATHS_JOBS/lib/toml_get.py" "$f" "$@"
}

# attn_requeue_after RC WHAT — after a checkpointing command (`attnpaths sample`, `attnpaths train`) ended
# with RC: exit 75 after the pre-timeout SIGUSR1 requeues this very job (same job id, so the jobs that
# depend on it keep waiting; it restarts with SLURM_RESTART_COUNT+1 and continues with --resume);
# exit 75 after SIGTERM (scancel, hard limit) is only recorded. Returns RC (the job's exit code).
attn_requeue_after() {
  local rc=$1 what=$2
  if ((rc == 75)) && [[ ${ATTN_SIGNALLED:-} == USR1 ]]; then
    echo "$what checkpointed (exit 75): requeueing job $SLURM_JOB_ID to continue with --resume"
    ATTN_FINAL_STATE=requeued
    if scontrol requeue "$SLURM_JOB_ID"; then
      sleep 300 &   # Slurm ends this shell now; wait for it without consuming the exit status
      wait $!
      return 0
    fi
    echo "scontrol requeue failed: continue by hand with  RESUME=1 sbatch …  (same script and arguments)" >&2
  elif ((rc == 75)); then
    ATTN_FINAL_STATE="checkpointed (SIG${ATTN_SIGNALLED:-?})"
    echo "$what checkpointed (exit 75) after SIG${ATTN_SIGNALLED:-?}: not requeued; continue with" \
      " RESUME=1 sbatch …  (same script and arguments)" >&2
  fi
  return "$rc"
}

# attn_resume_flag OUT — prints --resume when this run continues OUT.partial: after a requeue
# (SLURM_RESTART_COUNT > 0) or with RESUME=1.
attn_resume_flag() {
  if [[ ${SLURM_RESTART_COUNT:-0} -gt 0 || ${RESUME:-0} == 1 ]] && [[ -f $1.partial ]]; then
    echo "--resume"
  fi
}
