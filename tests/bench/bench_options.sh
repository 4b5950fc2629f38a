#!/usr/bin/env bash
# ctest bench_options: every benchmark program answers --help with its usage (exit 0) and a misspelt
# option or a malformed value with a message that names it and the usage exit code 2, never with an
# abort (std::terminate) or by silently running the default case.
#   tests/bench/bench_options.sh BENCH_DIR
set -uo pipefail
dir=${1:?usage: bench_options.sh BENCH_DIR}
fail=0
expect() {  # expect CODE PATTERN PROGRAM ARGS...
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$dir/$@" 2>&1)
  rc=$?
  if [[ $rc != "$code" ]] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (expected $code), output lacks '$pattern':"
    echo "$out" | tail -5
    fail=1
  fi
}
for b in bench_theory bench_train bench_sampler bench_load bench_path_inputs; do
  expect 0 "usage: $b" $b --help
done
expect 2 "unknown option or missing value '--size'" bench_theory --size 100
expect 2 "not a number" bench_theory --repeats x
expect 2 "unknown option or missing value '--second'" bench_train --second 1
expect 2 "float32 or float64" bench_train --precision f16
expect 2 "unknown option or missing value '--widht'" bench_sampler --widht 10
expect 2 "no FILE" bench_load
expect 2 "unknown option or missing value '--repeat'" bench_path_inputs data.h5 --repeat 3
expect 3 "does not exist" bench_path_inputs /nonexistent/data.h5
exit $fail
