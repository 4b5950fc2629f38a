#!/bin/bash
# ctest slurm_markov_pipeline (label slurm): the Markov pipeline on a REAL one-node SLURM cluster.
#  1. starts munged + slurmctld + slurmd in a scratch directory (tests/slurm/local_cluster.sh);
#  2. `sbatch jobs/markov_pipeline.sbatch` with the test-size options and plan (tests/slurm/tiny/);
#  3. while the first sampling task runs, sends it the pre-timeout signal exactly as Slurm does for
#     --signal=B:USR1@120 (scancel --signal=USR1 --batch): the job must checkpoint, requeue itself and
#     finish the chains with --resume;
#  4. waits for every job, checks the job states (scontrol show job), the exit markers, the outputs
#     and the report (tests/analysis/check_report.py: all figures, every number against the HDF5);
#  5. always stops the daemons (by PID), whatever happens.
# Environment (set by ctest): ATTNPATHS_BINARY, ATTNPATHS_SOURCE_DIR, ATTNPATHS_TEST_TMP, PYTHON.
set -uo pipefail

PIPELINE_TEST=slurm_pipeline
source "${ATTNPATHS_SOURCE_DIR:?}/tests/slurm/pipeline_test_lib.sh"  # SRC, BIN, PY, T0, SCRATCH, RES, CLUSTER

# ---- preconditions: a clear failure, never a silent pass ----------------------------------------
require_cluster_and_commands "$BIN" "data markov" theory sample compare

# the job scripts' contract (docs/jobs.md): shared set-up, srun --mpi=pmix, threads from the
# allocation, the pre-timeout signal and requeueing for sampling
grep -q 'srun --mpi=pmix' "$SRC/jobs/lib/common.sh" || fail "jobs/lib/common.sh does not launch with srun --mpi=pmix"
grep -q 'export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK' "$SRC/jobs/lib/common.sh" &&
  grep -q 'export OPENBLAS_NUM_THREADS=' "$SRC/jobs/lib/common.sh" || fail "jobs do not export the thread counts"
for s in "$SRC"/jobs/*.sbatch; do
  [[ $s == */*_pipeline.sbatch ]] && continue   # (the pipelines only submit)
  grep -q 'source "$ATTNPATHS_JOBS/lib/common.sh"' "$s" && grep -q '^attn_init ' "$s" ||
    fail "$s does not use jobs/lib/common.sh (attn_init)"
done
grep -q '^#SBATCH --signal=B:USR1@' "$SRC/jobs/sample.sbatch" && grep -q '^#SBATCH --requeue' "$SRC/jobs/sample.sbatch" ||
  fail "jobs/sample.sbatch must ask for the pre-timeout signal and be requeueable"

# ---- 1. the cluster (a fresh scratch directory; the daemons stopped on exit) -------------------------
start_scratch_cluster

# ---- 2. submit the pipeline exactly as a user would ------------------------------------------------
# (Open MPI as root and oversubscription come from jobs/lib/common.sh; the ctest environment's
#  OMP/OPENBLAS thread settings are overridden per job from the allocation.)
# (wrong thread counts in the submitting shell: every job must replace them with its allocation's)
pipe=$(CONFIG=$SRC/tests/slurm/tiny ATTNPATHS=$BIN PYTHON=$PY \
  OMP_NUM_THREADS=7 OPENBLAS_NUM_THREADS=7 \
  sbatch --parsable "$SRC/jobs/markov_pipeline.sbatch" "$RES") || fail "sbatch of the pipeline failed"
pipe=${pipe%%;*}
log "submitted the pipeline job $pipe"

pipeline_done() { [[ $(job_field "$pipe" JobState) == COMPLETED || $(job_field "$pipe" JobState) == FAILED ]]; }
wait_until "the pipeline job to submit the stages" pipeline_done
[[ $(job_field "$pipe" JobState) == COMPLETED ]] || fail "the pipeline job $pipe did not complete: $(job_field "$pipe" JobState)"
[[ -s $RES/logs/pipeline_jobs.tsv ]] || fail "the pipeline wrote no logs/pipeline_jobs.tsv"
read_pipeline_jobs
for st in data theory_markov4 theory_markov2_noisy theory_markov_g theory_markov_gd sample_markov4 report; do
  [[ -n ${JOB[$st]:-} ]] || fail "the pipeline did not submit stage '$st'"
done
log "stages: $(for k in "${!JOB[@]}"; do printf '%s=%s ' "$k" "${JOB[$k]}"; done)"
# every stage asks for the memory of the plan (tests/slurm/tiny/plan.env: sbatch --mem)
declare -A MEM=([data]=300M [theory_markov4]=500M [theory_markov2_noisy]=500M [theory_markov_g]=500M
  [theory_markov_gd]=500M [sample_markov4]=600M [report]=700M)
for st in "${!MEM[@]}"; do
  got=$(job_field "${JOB[$st]}" MinMemoryNode | sort -u | tr '\n' ' ')
  [[ $got == "${MEM[$st]} " ]] || fail "stage $st asked for --mem '$got', the plan says ${MEM[$st]}"
done
# the pipeline job's own Slurm log is moved from the submit directory to RESULTS/logs
compgen -G "$SCRATCH/attn-pipeline-*.out" >/dev/null && fail "the pipeline left its log in the submit directory: $(ls "$SCRATCH"/attn-pipeline-*.out)"
grep -q "submitted report" "$RES/logs/attn-pipeline-$pipe.out" || fail "the pipeline's log is not $RES/logs/attn-pipeline-$pipe.out"
log "memory from the plan; the pipeline's log is under RESULTS/logs"

# ---- 3. the pre-timeout signal on the first sampling task -------------------------------------------
s0="${JOB[sample_markov4]}_0"
# the sampler has installed its signal handlers once it has created its output (<file>.partial)
running() { [[ $(job_field "$s0" JobState | head -1) == RUNNING && -s $RES/samples/markov4_N10.h5.partial ]]; }
finished_early() { [[ $(job_field "$s0" JobState | head -1) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT)$ ]]; }
until running; do
  finished_early && fail "sampling task $s0 ended ($(job_field "$s0" JobState | head -1)) before it could be signalled; make tests/slurm/tiny/sample.toml's sampling longer"
  (($(elapsed) < DEADLINE_S)) || fail "timed out waiting for sampling task $s0 to run"
  sleep 0.5
done
finished_early && fail "sampling task $s0 finished before the signal; make tests/slurm/tiny/sample.toml's sampling longer"
log "sending SIGUSR1 to the batch shell of $s0 (what --signal=B:USR1@120 does before the time limit)"
scancel --signal=USR1 --batch "$s0" || fail "scancel --signal=USR1 --batch $s0 failed"
restarted() {
  [[ $(job_field "$s0" Restarts | head -1) -ge 1 ]] && return 0
  [[ $(job_field "$s0" JobState | head -1) =~ ^(FAILED|CANCELLED|TIMEOUT|COMPLETED)$ ]] &&
    fail "sampling task $s0 ended as $(job_field "$s0" JobState | head -1) instead of checkpointing and requeueing"
  return 1
}
wait_until "sampling task $s0 to checkpoint and requeue itself" restarted
log "$s0 requeued itself (Restarts=$(job_field "$s0" Restarts | head -1))"

# ---- 4. wait for everything ---------------------------------------------------------------------------
wait_until "all pipeline jobs to finish" queue_empty
log "all jobs finished"

check_all_completed
log "every job COMPLETED with ExitCode 0:0"
[[ $(job_field "$s0" Restarts | head -1) == 1 ]] || fail "$s0 should have restarted exactly once"

# the chain data -> theory -> sampling -> report (afterok): no stage started before its predecessors ended
check_order theory_markov4 data
check_order theory_markov2_noisy data
check_order sample_markov4 theory_markov4 theory_markov2_noisy theory_markov_g theory_markov_gd
check_order report sample_markov4 theory_markov4 theory_markov2_noisy theory_markov_g theory_markov_gd
log "dependencies honoured: data -> theory -> sampling -> report"

# exit markers written by the job scripts (jobs/lib/common.sh)
check_markers 9
grep -qx 'restart=1' "$RES/logs/sample_markov4_0.exit" || fail "the resumed sampling task did not record restart=1"
grep -q 'received SIGUSR1' "$RES"/logs/attn-sample-*_0.out || fail "the sampling log does not show the forwarded signal"
grep -q 'continuing the chains' "$RES"/logs/attn-sample-*_0.out || fail "the requeued sampling task did not resume"
ls "$RES"/logs/attn-data-*.out "$RES"/logs/attn-report-*.out >/dev/null 2>&1 || fail "job logs missing next to the results"

# ---- 5. outputs -----------------------------------------------------------------------------------------
for f in data/markov4.h5 data/markov2_noisy.h5 data/markov_g.h5 data/markov_gd.h5 \
  theory/markov4/N10_T0.01.h5 theory/markov4/N30_T0.01.h5 theory/markov2_noisy.h5 theory/markov_g.h5 \
  theory/markov_gd.h5 samples/markov4_N10.h5 samples/markov4_N30.h5 report/report.md; do
  [[ -s $RES/$f ]] || fail "missing output $f"
done
"$PY" - "$RES" <<'EOF' || fail "sample files incomplete or not spread over the job's tasks"
import sys, h5py
for w in (10, 30):
    with h5py.File(f"{sys.argv[1]}/samples/markov4_N{w}.h5", "r") as f:
        c, s = f["samples/U1"].shape[:2]
        cfg, prov = f["config"].attrs, f["provenance"].attrs
        want = int(cfg["draws"])
        assert s == want, f"N={w}: {s} draws per chain, expected {want}"
        assert int(cfg["width"]) == w, f"width {cfg['width']} in samples/markov4_N{w}.h5"
        ranks, chains, shards = int(prov["mpi_ranks"]), int(cfg["chains"]), int(cfg["shards"])
        assert ranks == 2 and chains * shards == ranks, f"N={w}: {ranks} ranks for {chains} chains x {shards} shards"
        threads = (int(prov["omp_threads"]), str(prov["openblas_num_threads"]))
        assert threads == (1, "1"), f"N={w}: threads {threads}, expected 1 per rank from the allocation"
        print(f"  samples N={w}: {c} chains x {s} draws on {ranks} ranks")
EOF
grep -q '2 task(s) x 1 thread(s)' "$RES"/logs/attn-sample-*_1.out || fail "the job did not size its thread pool from the allocation"
"$PY" "$SRC/tests/analysis/check_report.py" "$RES/report" "$RES" --min-tables 10 \
  --figures accuracy_vs_width,u1_heatmaps,kernels,alignment,accuracy_two_paths,u1_theory_vs_sampled ||
  fail "the report does not match the results"
grep -q "report: $RES/report/report.md" "$RES"/logs/attn-report-*.out || fail "the report job did not print where the report is"
log "pipeline checked"

# ---- 6. a stage script on its own: found through the controller, launched with mpirun ---------------
ALONE=$SCRATCH/standalone
mkdir -p "$ALONE/data"   # (no logs/ yet: the stage must still run and log)
cp "$RES/data/markov_g.h5" "$ALONE/data/"
one=$(cd "$SRC" && CONFIG=$SRC/tests/slurm/tiny ATTNPATHS=$BIN ATTNPATHS_LAUNCHER=mpirun \
  OMP_NUM_THREADS=7 OPENBLAS_NUM_THREADS=7 \
  sbatch --parsable --chdir="$ALONE" --ntasks=2 jobs/theory_grid.sbatch data/markov_g.h5 theory/markov_g.h5 --gp-only) ||
  fail "standalone sbatch failed"
one=${one%%;*}
one_done() { [[ $(job_field "$one" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT)$ ]]; }
wait_until "the standalone theory job" one_done
[[ $(job_field "$one" JobState) == COMPLETED ]] || { cat "$ALONE"/*.out "$ALONE"/logs/*.out; fail "standalone theory job: $(job_field "$one" JobState)"; }
[[ -s $ALONE/attn-theory-$one.out ]] || fail "the standalone job submitted before logs/ existed left no log in its directory"
grep -q '^+ mpirun:' "$ALONE/attn-theory-$one.out" || fail "the standalone job did not use mpirun"
[[ -f $ALONE/logs/theory_markov_g.exit ]] || fail "the standalone job wrote no exit marker in logs/"
"$PY" -c "
import h5py, sys
p = h5py.File(sys.argv[1])['provenance'].attrs
assert int(p['mpi_ranks']) == 2, 'ranks %s' % p['mpi_ranks']
assert int(p['omp_threads']) == 1 and str(p['openblas_num_threads']) == '1', 'threads not from the allocation'
" "$ALONE/theory/markov_g.h5" || fail "the standalone job did not run on 2 ranks x 1 thread (its allocation)"
log "PASS: pipeline ran to the report on the local SLURM cluster; standalone stage with mpirun works"
