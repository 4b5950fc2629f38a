#!/bin/bash
# ctest slurm_image_pipeline (label slurm): the image pipeline on a REAL one-node SLURM cluster.
#  1. starts munged + slurmctld + slurmd in a scratch directory (tests/slurm/local_cluster.sh);
#  2. `sbatch jobs/image_pipeline.sbatch` with the test-size options and plan (tests/slurm/tiny_image/:
#     40 episodes per set, a 16-wide network, a 2 x 2 theory grid as an array over temperatures);
#  3. while the training job runs, sends it the pre-timeout signal as Slurm does for
#     --signal=B:USR1@120: it must checkpoint, requeue itself and finish the training with --resume;
#  4. waits for every job; checks the job states, the order of the chain (afterok), the exit markers,
#     the sampled temperature = the one selected on the validation set, and the report
#     (tests/analysis/check_image_report.py: every figure, every number against the HDF5);
#  5. always stops the daemons (by PID), whatever happens.
# Environment (set by ctest): ATTNPATHS_BINARY, ATTNPATHS_SOURCE_DIR, ATTNPATHS_TEST_TMP, PYTHON.
set -uo pipefail

PIPELINE_TEST=slurm_image_pipeline
source "${ATTNPATHS_SOURCE_DIR:?}/tests/slurm/pipeline_test_lib.sh"  # SRC, BIN, PY, T0, SCRATCH, RES, CLUSTER

require_cluster_and_commands "$BIN" "data omniglot" train theory select sample compare prune
grep -q '^#SBATCH --signal=B:USR1@' "$SRC/jobs/train.sbatch" && grep -q '^#SBATCH --requeue' "$SRC/jobs/train.sbatch" ||
  fail "jobs/train.sbatch must ask for the pre-timeout signal and be requeueable"
start_scratch_cluster
pipe=$(CONFIG=$SRC/tests/slurm/tiny_image ATTNPATHS=$BIN PYTHON=$PY \
  sbatch --parsable "$SRC/jobs/image_pipeline.sbatch" "$RES") || fail "sbatch of the image pipeline failed"
pipe=${pipe%%;*}
pipeline_done() { [[ $(job_field "$pipe" JobState) =~ ^(COMPLETED|FAILED)$ ]]; }
wait_until "the pipeline job to submit the stages" pipeline_done
[[ $(job_field "$pipe" JobState) == COMPLETED ]] || fail "the pipeline job $pipe did not complete: $(job_field "$pipe" JobState)"
read_pipeline_jobs
STAGES="data train theory_image select sample_image prune report"
for st in $STAGES; do
  [[ -n ${JOB[$st]:-} ]] || fail "the pipeline did not submit stage '$st'"
done
log "stages: $(for k in $STAGES; do printf '%s=%s ' "$k" "${JOB[$k]}"; done)"
[[ $(job_field "${JOB[train]}" MinMemoryNode) == 500M ]] || fail "train did not ask for the plan's memory (500M)"

# ---- the pre-timeout signal on the training job -----------------------------------------------------------
tr=${JOB[train]}
training() { [[ $(job_field "$tr" JobState) == RUNNING ]] && grep -q '^step ' "$RES"/logs/attn-train-"$tr".out 2>/dev/null; }
ended() { [[ $(job_field "$tr" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT)$ ]]; }
until training; do
  ended && fail "training job $tr ended ($(job_field "$tr" JobState)) before it could be signalled; raise steps in tests/slurm/tiny_image/train.toml"
  (($(elapsed) < DEADLINE_S)) || fail "timed out waiting for the training job $tr to run"
  sleep 0.5
done
log "sending SIGUSR1 to the batch shell of training job $tr (what --signal=B:USR1@120 does before the limit)"
scancel --signal=USR1 --batch "$tr" || fail "scancel --signal=USR1 --batch $tr failed"
requeued() {
  [[ $(job_field "$tr" Restarts) -ge 1 ]] && return 0
  ended && fail "training job $tr ended as $(job_field "$tr" JobState) instead of checkpointing and requeueing"
  return 1
}
wait_until "training job $tr to checkpoint and requeue itself" requeued
log "training job $tr requeued itself"

wait_until "all pipeline jobs to finish" queue_empty
check_all_completed
log "every job COMPLETED with ExitCode 0:0"
check_order train data
check_order theory_image train
check_order select theory_image
check_order sample_image select
check_order prune select
check_order report sample_image prune
log "dependencies honoured: data -> train -> theory -> select -> sample, prune -> report"
check_markers $((1 + 1 + 2 + 1 + 2 + 1 + 1))   # data, train, 2 theory tasks, select, 2 sample tasks, prune, report
grep -qx 'restart=1' "$RES/logs/train.exit" || fail "the resumed training did not record restart=1"
grep -q 'continuing the training' "$RES"/logs/attn-train-*.out || fail "the requeued training did not resume"

for f in data/omniglot.h5 data/trained.h5 train/model.h5 theory/image/T0.1.h5 theory/image/T0.5.h5 select/image.h5 \
  samples/image_N10.h5 samples/image_N50.h5 compare/image_N10.h5 prune/image.h5 report/report.md; do
  [[ -s $RES/$f ]] || fail "missing output $f"
done
for w in 10 50; do   # each width sampled at the temperature selected for it on the validation set
  sel=$("$PY" "$SRC/jobs/lib/results_query.py" selected-temperature "$RES/select/image.h5" "$w")
  got=$("$PY" "$SRC/jobs/lib/results_query.py" samples-temperature "$RES/samples/image_N$w.h5")
  [[ $sel == "$got" ]] || fail "N = $w sampled at Temp $got, but $sel was selected"
done
"$PY" "$SRC/tests/analysis/check_image_report.py" "$RES/report" "$RES" \
  --figures accuracy_vs_n,u1_maps,alignment,head_scores,pruning_curve || fail "the report does not match the results"
log "PASS: image pipeline ran to the report on the local SLURM cluster (training requeued and resumed)"
