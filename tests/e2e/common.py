"""Shared helpers of the end-to-end tests: running the real `attnpaths` binary."""
import os
import shutil
import subprocess
import tempfile

BIN = os.environ.get('ATTNPATHS_BINARY', 'build/bin/attnpaths')
TMP = os.environ.get('ATTNPATHS_TEST_TMP', tempfile.gettempdir())
MPI_ENV = {'OMPI_ALLOW_RUN_AS_ROOT': '1', 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM': '1',
           'OMPI_MCA_rmaps_base_oversubscribe': '1', 'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'}


def clean_env():
    """The environment for a child command: without this job's Open MPI/PMIx identity (a nested
    mpirun must not try to join it), one BLAS/OpenMP thread per rank."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OMPI_', 'PMIX_', 'PMI_', 'OPAL_', 'ORTE_'))}
    env.update(MPI_ENV)
    return env


def run(args, ranks=None, check=True, timeout=600):
    """Runs `attnpaths ARGS` (under `mpirun -np RANKS` when given); raises on a non-zero exit if `check`."""
    cmd = ([shutil.which('mpirun') or 'mpirun', '-np', str(ranks)] if ranks else []) + [BIN] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}')
    return p


def scratch(name):
    """A fresh scratch directory for one test module."""
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d
