#!/usr/bin/env bash
# attnpaths theory against an independent numpy port of the authors' reference solver (Adam,
# lr 0.1, stop at max|dS/dU| < 1e-5): U_1 to 1e-4 relative and identical test accuracy.
set -euo pipefail
bin=${ATTNPATHS_BINARY:-build/bin/attnpaths}
dir=${ATTNPATHS_TEST_TMP:-/tmp}/e2e-theory-reference
rm -rf "$dir" && mkdir -p "$dir"
"$bin" data markov --heads 4paths -Q 300 -o "$dir/markov4.h5" > "$dir/data.log"
"$bin" theory --data "$dir/markov4.h5" --widths 10,100,1000 --temperatures 0.01 -o "$dir/theory.h5" > "$dir/theory.log"
/usr/bin/python3 "$(dirname "$0")/reference_theory.py" "$dir/markov4.h5" "$dir/theory.h5" --widths 10,100,1000
