#!/bin/bash
# A full disk on a multi-rank run (issue 8, item 1): `data` and `theory` on 2 ranks writing into a
# 1 MiB tmpfs must stop (no hang) with exit code 6 and "No space left on device" in the message.
# Needs `mount -t tmpfs` (root); skips with exit code 77 when mounting is not permitted.
set -u
BIN=${ATTNPATHS_BINARY:-build/bin/attnpaths}
TMP=${ATTNPATHS_TEST_TMP:-/tmp}/io_full_disk
rm -rf "$TMP" && mkdir -p "$TMP/small"
if ! mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root); the full-disk test did not run"
  exit 77
fi
trap 'umount "$TMP/small" 2>/dev/null' EXIT
fail=0
# expect NAME COMMAND...: exit code 6 within the timeout, and the reason in the message.
expect() {
  local name=$1
  shift
  rm -f "$TMP"/small/*
  timeout 120 mpirun -np 2 "$@" >"$TMP/$name.log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then
    echo "FAIL $name: hung (killed after 120 s)"
    fail=1
  elif [ $rc -ne 6 ]; then
    echo "FAIL $name: exit code $rc, expected 6"
    fail=1
  elif ! grep -q "No space left on device" "$TMP/$name.log"; then
    echo "FAIL $name: the message does not say 'No space left on device'"
    fail=1
  else
    echo "ok $name: exit $rc: $(grep -m1 'error:' "$TMP/$name.log" | cut -c1-200)"
  fi
  [ $fail -eq 0 ] || tail -20 "$TMP/$name.log"
}
expect data "$BIN" data markov -P 40 -Q 10000 -T 6 --feature-dim 10 -o "$TMP/small/d.h5"
"$BIN" data markov -P 40 -Q 10000 -T 6 --feature-dim 10 -o "$TMP/bigQ.h5" >/dev/null || { echo "FAIL: data"; exit 1; }
expect theory "$BIN" theory --data "$TMP/bigQ.h5" --widths 10,30 --temperatures 0.01,0.1 -o "$TMP/small/t.h5"
exit $fail
