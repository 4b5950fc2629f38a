#!/bin/bash
# ctest setup_packages: what scripts/setup.sh would install, with dpkg-query and apt-get replaced by
# stand-ins that report every package missing and record the request (nothing is installed).
#  * the main job's set-up (scripts/main.sh -> scripts/setup.sh) asks only for the build and analysis
#    packages: no SLURM daemons, no munge, no GoogleTest (no system services for a demo);
#  * scripts/test.sh's set-up (--test) adds them.
set -uo pipefail
SRC=${ATTNPATHS_SOURCE_DIR:?}
TMP=${ATTNPATHS_TEST_TMP:?}/setup_packages
rm -rf "$TMP" && mkdir -p "$TMP/bin"
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$TMP/bin/dpkg-query" <<'X'
#!/bin/sh
exit 1
X
cat >"$TMP/bin/apt-get" <<'X'
#!/bin/sh
[ "$1" = update ] && exit 0
shift; for p in "$@"; do case $p in -*) ;; *) echo "$p" ;; esac; done >>"$APT_LOG"
X
printf '#!/bin/sh\nexec "$@"\n' >"$TMP/bin/sudo"
chmod +x "$TMP"/bin/*

requested() {  # requested [setup.sh arguments…] -> the packages asked for, one per line
  : >"$TMP/apt.log"
  APT_LOG=$TMP/apt.log PATH=$TMP/bin:$PATH bash "$SRC/scripts/setup.sh" "$@" --no-build >/dev/null ||
    fail "scripts/setup.sh $* --no-build failed"
  cat "$TMP/apt.log"
}

# the main job calls the set-up without --test
grep -qE '^scripts/setup\.sh *$' "$SRC/scripts/main.sh" || fail "scripts/main.sh does not run plain 'scripts/setup.sh'"
grep -qE '^scripts/setup\.sh --test' "$SRC/scripts/test.sh" || fail "scripts/test.sh does not run 'scripts/setup.sh --test'"

main=$(requested)
for p in libpetsc-real-dev libhdf5-openmpi-dev libopenmpi-dev cmake python3-h5py; do
  grep -qx "$p" <<<"$main" || fail "the main set-up does not install the build package $p"
done
for p in slurmctld slurmd munge slurm-client libgtest-dev libgmock-dev; do
  grep -qx "$p" <<<"$main" && fail "the main set-up installs the test-only package $p"
done
test=$(requested --test)
for p in slurmctld slurmd munge libgtest-dev libpetsc-real-dev; do
  grep -qx "$p" <<<"$test" || fail "the test set-up does not install $p"
done
echo "PASS: main set-up: $(wc -l <<<"$main") packages, no SLURM/munge/GoogleTest; --test adds them"
