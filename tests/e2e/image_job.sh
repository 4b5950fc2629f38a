#!/usr/bin/env bash
# The README's second main job, scripts/image.sh, at test size (--tiny): every stage runs and the report
# is written; then --from prune re-runs only prune and report on the same results (the earlier outputs
# reused, the skipped stages named); a bad --from is a usage error (exit 2) that writes nothing.
set -euo pipefail
src=${ATTNPATHS_SOURCE_DIR:-$PWD}
dir=${ATTNPATHS_TEST_TMP:-/tmp}/e2e-image-job
rm -rf "$dir" && mkdir -p "$dir"
export NO_SETUP=1 ATTNPATHS=${ATTNPATHS_BINARY:-$src/build/bin/attnpaths} RANKS=2
fail() { echo "e2e_image_job: $*" >&2; exit 1; }

"$src/scripts/image.sh" --tiny "$dir/r" > "$dir/full.log" 2>&1 || { tail -30 "$dir/full.log"; fail "the tiny job failed"; }
for f in data/omniglot.h5 train/model.h5 data/trained.h5 theory/image.h5 select/image.h5 samples/image_N10.h5 \
  compare/image.h5 prune/image.h5 report/report.md; do
  [[ -s $dir/r/$f ]] || fail "missing output $f"
done
for s in data train theory select sample_N10 compare prune report; do
  grep -q "^$s	" "$dir/r/timings.tsv" || fail "no timing for stage $s"
done
grep -q "image job done" "$dir/full.log" || fail "no closing line"

# --from prune: the earlier stages are skipped (their files untouched), prune and report run again.
before=$(stat -c %Y "$dir/r/theory/image.h5")
sleep 1
"$src/scripts/image.sh" --tiny --from prune "$dir/r" > "$dir/from.log" 2>&1 || { tail -30 "$dir/from.log"; fail "--from prune failed"; }
[[ $(stat -c %Y "$dir/r/theory/image.h5") == "$before" ]] || fail "--from prune rewrote the theory file"
for s in data train theory select sample_N10 compare; do
  grep -q "skipped: $s (--from prune)" "$dir/from.log" || fail "stage $s not reported as skipped"
done
grep -q "^prune	" "$dir/r/timings.tsv" && grep -q "^report	" "$dir/r/timings.tsv" || fail "prune/report did not run again"
grep -q "^theory	" "$dir/r/timings.tsv" && fail "--from prune timed the skipped theory stage"

# A stage name that does not exist: exit 2, and the results are not touched.
set +e
"$src/scripts/image.sh" --tiny --from nonsense "$dir/r" > "$dir/bad.log" 2>&1
rc=$?
set -e
[[ $rc == 2 ]] || fail "--from nonsense exited $rc, expected 2"
grep -q "is not a stage" "$dir/bad.log" || fail "no clear message for a bad --from"
echo "e2e_image_job: passed"
