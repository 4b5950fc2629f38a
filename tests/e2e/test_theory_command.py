#!/usr/bin/env python3
"""End-to-end tests of `attnpaths theory` through the real binary (run by ctest, label e2e).

Covers: rank-count and kernel-form invariance (1, 2, 4 ranks; primal vs dual) of U_1, the predictor
mean, the accuracy and the alignments to 1e-10; the docs/files.md §2 file contract; resume after a kill
(1 and 2 ranks); non-convergence;
and bad input (wrong shapes, NaN, a missing group, an unknown style, non-positive temperature or
width, an unwritable output path): exit code != 0, a message naming the problem, and no output file
that looks valid.
"""
import os
import shutil
import signal
import subprocess
import time
import unittest

import h5py
import numpy as np

from common import BIN, clean_env, run, scratch
from content_checksum import content_checksum


class TheoryCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-theory')
        cls.data = os.path.join(cls.dir, 'markov.h5')
        run(['data', 'markov', '--heads', '4paths', '-P', '40', '-Q', '30', '--validation-examples', '10',
             '-o', cls.data])
        cls.grid = ['--widths', '10,100', '--temperatures', '0.01,0.1', '--polish-tol', '1e-12']

    def path(self, name):
        return os.path.join(self.dir, name)

    def theory(self, out, extra=(), ranks=None, check=True):
        return run(['theory', '--data', self.data, '-o', self.path(out)] + self.grid + list(extra), ranks, check)

    def test_file_contract(self):
        self.theory('contract.h5')
        with h5py.File(self.path('contract.h5'), 'r') as f:
            self.assertEqual(f.attrs['format'], 'attnpaths-theory')
            self.assertEqual(f.attrs['version'], 1)
            nT, nW, H, Q = 2, 2, 4, 30
            self.assertEqual(f['theory/U1'].shape, (nT, nW, H, H))
            self.assertEqual(f['theory/U2'].shape, (nT, nW, 2, 2))
            for name in ['Ua', 'action', 'energy', 'entropy', 'iterations', 'grad_max', 'converged']:
                self.assertEqual(f['theory/' + name].shape, (nT, nW), name)
            self.assertTrue((f['theory/converged'][:] == 1).all())
            self.assertTrue((f['theory/grad_max'][:] < 1e-5).all())
            for v in ['theory', 'theory_diagonal']:
                self.assertEqual(f[f'predictor/{v}/mean'].shape, (nT, nW, Q))
                self.assertEqual(f[f'predictor/{v}/accuracy'].shape, (nT, nW))
            self.assertEqual(f['predictor/gp/mean'].shape, (nT, Q))
            self.assertEqual(f['predictor/validation/theory/mean'].shape, (nT, nW, 10))
            self.assertEqual(f['alignment/theory'].shape[:2], (nT, nW))
            self.assertEqual(list(f['data'].attrs['path_labels']), ['g', 'a1', 'd', 'a2'])
            self.assertEqual(f['config'].attrs['data'], self.data)  # the dataset's path and checksum
            # the checksum of docs/files.md, recomputed independently (tests/e2e/content_checksum.py)
            self.assertEqual(f['config'].attrs['data_checksum'], content_checksum(self.data))
            for key in ['git_commit', 'petsc_version', 'hdf5_version', 'mpi_ranks', 'wall_seconds']:
                self.assertIn(key, f['provenance'].attrs)
            # MPI_Init and PETSc's initialisation took time, before the run's own wall_seconds began
            self.assertGreater(f['provenance'].attrs['mpi_start_seconds'], 0.0)
            self.assertLess(f['provenance'].attrs['mpi_start_seconds'], 60.0)
            self.assertIn('minimise', list(f['provenance/timing'].attrs['stage']))
            # every number finite, U_1 symmetric positive definite
            for t in range(nT):
                for w in range(nW):
                    u = f['theory/U1'][t, w]
                    np.testing.assert_allclose(u, u.T, atol=1e-12)
                    self.assertGreater(np.linalg.eigvalsh(u).min(), 0)
            self.assertTrue(np.isfinite(f['predictor/theory/var'][:]).all())
            # Alignments |v_k·y|/sqrt(P) of unit eigenvectors v_k (y = ±1): each in [0, 1], the sum of
            # their squares in (0, 1] (Parseval), NaN only as padding; the GP's the same at every Temp.
            for ds in ['alignment/theory', 'alignment/gp']:
                a = f[ds][:].reshape(-1, f[ds].shape[-1])
                for row in a:
                    v = row[np.isfinite(row)]
                    self.assertTrue(len(v) > 0 and (v >= 0).all() and (v <= 1 + 1e-12).all(), ds)
                    self.assertTrue(0.5 < (v ** 2).sum() <= 1 + 1e-12, f'{ds}: {(v ** 2).sum()}')
            gp = f['alignment/gp'][:]
            for t in range(1, nT):
                np.testing.assert_array_equal(gp[t], gp[0])
        self.assertFalse(os.path.exists(self.path('contract.h5.partial')))

    def test_rank_and_form_invariance(self):
        outs = {}
        for ranks in (1, 2, 4):
            self.theory(f'ranks{ranks}.h5', ranks=ranks)
            outs[f'np{ranks}'] = self.path(f'ranks{ranks}.h5')
        for form, ranks in (('dual', 1), ('dual', 2), ('primal', 1), ('primal', 2)):
            name = f'{form}-np{ranks}'
            self.theory(f'{name}.h5', ['--form', form], ranks=ranks)
            outs[name] = self.path(f'{name}.h5')
            with h5py.File(outs[name], 'r') as f:
                self.assertEqual(f['data'].attrs['kernel_form'], form)
        ref = h5py.File(outs['np1'], 'r')
        self.assertEqual(ref['data'].attrs['kernel_form'], 'path-pairs')  # auto at P <= r, small kernels
        self.assertEqual(ref['config'].attrs['form_resolved'], 'path-pairs')
        for name, p in outs.items():
            with h5py.File(p, 'r') as f:
                for ds in ['theory/U1', 'theory/U2', 'predictor/theory/mean', 'predictor/gp/mean',
                           'predictor/theory/var', 'predictor/validation/theory/mean']:
                    np.testing.assert_allclose(f[ds][:], ref[ds][:], rtol=0, atol=1e-10, err_msg=f'{name}: {ds}')
                for ds in ['predictor/theory/accuracy', 'predictor/gp/accuracy']:
                    np.testing.assert_array_equal(f[ds][:], ref[ds][:], err_msg=f'{name}: {ds}')
                # The alignments are shared out over the ranks in batches (the GP's computed once);
                # NaN pads beyond the kernel's rank.
                for ds in ['alignment/theory', 'alignment/gp']:
                    np.testing.assert_allclose(f[ds][:], ref[ds][:], rtol=0, atol=1e-10, equal_nan=True,
                                               err_msg=f'{name}: {ds}')
                self.assertTrue(f['progress/theory'][:].all() and f['progress/gp'][:].all())

    def test_resume_after_kill(self):
        # 20 grid points of a few ms each (path-pair form): the kill, sent when the first point is
        # written (1 rank) or the third is reported (2 ranks: a point is finished once the queue of 2
        # alignments is), lands before the last one; how many points are done by then depends on the machine.
        grid = ['--widths', '10,30,100,300,1000', '--temperatures', '0.01,0.03,0.1,0.3', '--polish-tol', '1e-12']
        for ranks, kill_at in ((None, 1), (2, 3)):
            with self.subTest(ranks=ranks):
                self.resume_after_kill(grid, ranks, kill_at)

    def resume_after_kill(self, grid, ranks, kill_at):
        tag = f'np{ranks or 1}'
        full = self.path(f'full-{tag}.h5')
        run(['theory', '--data', self.data, '-o', full] + grid, ranks)
        out = self.path(f'killed-{tag}.h5')
        launcher = [shutil.which('mpirun') or 'mpirun', '-np', str(ranks)] if ranks else []
        cmd = launcher + [BIN, 'theory', '--data', self.data, '-o', out] + grid
        pattern = f'theory --data {self.data} -o {out}'
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env())
        with p.stdout:
            for line in p.stdout:  # kill every rank as soon as the point is reported
                if f'theory grid: {kill_at}/' in line:
                    subprocess.run(['pkill', '-KILL', '-f', pattern])
                    p.send_signal(signal.SIGKILL)
                    break
            p.wait()
        for _ in range(200):  # the ranks are gone (they hold the file open until then)
            if subprocess.run(['pgrep', '-f', pattern], stdout=subprocess.DEVNULL).returncode != 0:
                break
            time.sleep(0.05)
        self.assertFalse(os.path.exists(out), 'a killed run must not leave a file that looks complete')
        with h5py.File(out + '.partial', 'r') as f:  # ... but a valid partial file with the finished points
            done = int(f['progress/theory'][:].sum())
            self.assertGreaterEqual(done, 1)
            self.assertLess(done, 20)
            self.assertTrue(np.isfinite(f['theory/U1'][0, 0]).all())
        r = run(['theory', '--data', self.data, '-o', out, '--resume'] + grid, ranks)
        self.assertIn('resuming', r.stdout)
        with h5py.File(out, 'r') as f, h5py.File(full, 'r') as g:
            for ds in ['theory/U1', 'predictor/theory/mean', 'alignment/theory', 'alignment/gp']:
                np.testing.assert_array_equal(f[ds][:], g[ds][:], err_msg=f'{tag}: {ds}')
            self.assertTrue(f['progress/theory'][:].all() and f['progress/gp'][:].all())
        if ranks:
            return
        # resuming with other options is refused (and resuming a complete file is refused anyway)
        shutil.copy(out, out + '.partial')
        os.remove(out)
        r = run(['theory', '--data', self.data, '-o', out, '--resume', '--widths', '10,30', '--temperatures', '0.01'],
                check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('cannot resume', r.stderr)

    def test_options_file(self):
        # A TOML options file ([theory] table, long option names) gives the same run as the command line.
        toml = self.path('opts.toml')
        with open(toml, 'w') as f:
            f.write(f'[theory]\ndata = "{self.data}"\nwidths = [10, 100]\ntemperatures = [0.01, 0.1]\n'
                    'polish-tol = 1e-12\n')
        run(['--config', toml, 'theory', '-o', self.path('from_toml.h5')])
        self.theory('from_cli.h5')
        with h5py.File(self.path('from_toml.h5'), 'r') as a, h5py.File(self.path('from_cli.h5'), 'r') as b:
            np.testing.assert_array_equal(a['theory/U1'][:], b['theory/U1'][:])
            self.assertEqual(a['config'].attrs['polish_tol'], 1e-12)

    def test_non_convergence_is_flagged(self):
        out = self.path('noconv.h5')
        r = self.theory('noconv.h5', ['--max-iterations', '1'], check=False)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn('did not meet the stopping rule', r.stderr)
        self.assertIn('NOT CONVERGED', r.stdout)
        with h5py.File(out, 'r') as f:
            self.assertTrue((f['theory/converged'][:] == 0).any())

    def test_reading_takes_no_file_lock(self):
        # One rank reads its dataset with HDF5's POSIX driver, with file locking off as under MPI-IO:
        # another process holding an exclusive lock on the dataset (or a file system without flock)
        # must not stop the run.
        import fcntl
        with open(self.data, 'rb') as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            r = run(['theory', '--data', self.data, '--widths', '10', '--temperatures', '0.01', '--gp-only',
                     '-o', self.path('locked.h5'), '--overwrite'], check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_gp_only_and_baselines(self):
        good = self.path('good.h5')
        run(['data', 'markov', '--heads', 'good', '-P', '40', '-Q', '30', '-o', good])
        run(['theory', '--data', self.data, '--gp-only', '--temperatures', '0.01', '--gp-baseline', f'g={good}',
             '-o', self.path('gp.h5')])
        run(['theory', '--data', good, '--gp-only', '--temperatures', '0.01', '-o', self.path('gp_good.h5')])
        with h5py.File(self.path('gp.h5'), 'r') as f, h5py.File(self.path('gp_good.h5'), 'r') as g:
            self.assertNotIn('theory/U1', f)
            self.assertEqual(f['baselines/g/accuracy'].shape, (1,))
            self.assertEqual(f['baselines/g'].attrs['H_tot'], 1)
            self.assertTrue(0.5 <= f['predictor/gp/accuracy'][0] <= 1)
            # the baseline is exactly the GP of the baseline's own dataset
            np.testing.assert_allclose(f['baselines/g/mean'][:], g['predictor/gp/mean'][:], rtol=0, atol=1e-12)
            self.assertEqual(f['baselines/g/accuracy'][0], g['predictor/gp/accuracy'][0])


class BadInput(unittest.TestCase):
    """Every case: exit code != 0, a message naming the problem, no output file that looks valid."""

    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-bad-input')
        cls.good = os.path.join(cls.dir, 'good.h5')
        run(['data', 'markov', '-P', '20', '-Q', '10', '-o', cls.good])

    def broken(self, name, edit):
        p = os.path.join(self.dir, name + '.h5')
        shutil.copy(self.good, p)
        with h5py.File(p, 'r+') as f:
            edit(f)
        return p

    def expect_failure(self, data, extra, *needles, code=None):
        out = os.path.join(self.dir, 'out.h5')
        for leftover in (out, out + '.partial'):
            if os.path.exists(leftover):
                os.remove(leftover)
        r = run(['theory', '--data', data, '--widths', '10', '--temperatures', '0.01', '-o', out] + list(extra),
                check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        if code is not None:
            self.assertEqual(r.returncode, code, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertIn('error', r.stderr)
        self.assertFalse(os.path.exists(out), 'no output file may look valid after a failure')
        return r

    def test_wrong_shape(self):
        def edit(f):
            y = f['test/y'][:]
            del f['test/y']
            f['test/y'] = y[:-1]
        self.expect_failure(self.broken('shape', edit), [], 'test/y', code=3)

    def test_nan(self):
        def edit(f):
            x = f['train/x'][:]
            x[3, 2, 1] = np.nan
            f['train/x'][...] = x
        self.expect_failure(self.broken('nan', edit), [], 'train/x', code=3)

    def test_invalid_rows_of_one_rank_stop_every_rank(self):
        # The stream validates each rank's blocks alone; the ranks agree after each set (and every 64
        # blocks). Invalid rows in rank 0's first block (rank 1 streams on) or in rank 1's last block
        # must stop both ranks with exit 3 and the example's message, without a hang.
        big = os.path.join(self.dir, 'big.h5')
        run(['data', 'markov', '-P', '150', '-Q', '10', '-o', big, '--overwrite'])
        cases = (('nan0', 0, np.nan, 'non-finite value (NaN or Inf) at example 0'),
                 ('nan149', 149, np.nan, 'non-finite value (NaN or Inf) at example 149'),
                 ('label149', 149, 0.5, '/train/y holds the labels'))
        for name, example, value, needle in cases:
            p = os.path.join(self.dir, name + '.h5')
            shutil.copy(big, p)
            with h5py.File(p, 'r+') as f:
                key = 'train/x' if np.isnan(value) else 'train/y'
                a = f[key][:]
                if a.ndim == 3:
                    a[example, 0, 0] = value
                else:
                    a[example] = value
                f[key][...] = a
            out = os.path.join(self.dir, 'out2.h5')
            r = run(['theory', '--data', p, '--widths', '10', '--temperatures', '0.01', '-o', out, '--overwrite',
                     '--block-size', '0.01'], ranks=2, check=False, timeout=120)
            self.assertEqual(r.returncode, 3, (name, r.stderr))
            self.assertIn(needle, r.stderr, name)
            self.assertFalse(os.path.exists(out), name)

    def test_missing_group(self):
        self.expect_failure(self.broken('missing', lambda f: f.__delitem__('test')), [], 'test', code=3)

    def test_unknown_style(self):
        def edit(f):
            f['attention/layer_1'].attrs['style'] = 'kq'
        self.expect_failure(self.broken('style', edit), [], "'kq'", code=3)

    def test_non_positive_temperature(self):
        self.expect_failure(self.good, ['--temperatures', '-0.5'], 'temperature')

    def test_non_positive_width(self):
        self.expect_failure(self.good, ['--widths', '0'], 'width')

    def test_missing_file(self):
        self.expect_failure(os.path.join(self.dir, 'nope.h5'), [], 'nope.h5')

    def test_unwritable_output(self):
        r = run(['theory', '--data', self.good, '--widths', '10', '--temperatures', '0.01', '-o',
                 '/proc/forbidden/out.h5'], check=False)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn('/proc/forbidden/out.h5', r.stderr)

    def test_wrong_variance_count(self):
        self.expect_failure(self.good, ['--variances', '1,1'], '--variances', code=3)


if __name__ == '__main__':
    unittest.main(verbosity=2)
