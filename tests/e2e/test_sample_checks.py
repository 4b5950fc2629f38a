#!/usr/bin/env python3
"""Nothing silent in `sample` and `compare` (issue 8, items 2 and 7), through the real binary.

* A NaN/Inf log density is an error (exit 4) and no samples file is written.
* A failure inside one chain stops every rank through main's abort policy (no hang, its exit code).
* Stan's diagnostics are warnings in the log and in /diagnostics (`warnings`, `passed`); a short run
  does not pass them, and `compare` then does not say "agrees".
* `compare` refuses samples of another dataset, a `.partial` file and NaN results (exit 3), and flags
  unconverged theory points loudly.
"""
import os
import shutil
import unittest

import h5py
import numpy as np

from common import run, scratch


class SampleChecks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-sample-checks')
        cls.data = cls.path('small.h5')
        run(['data', 'markov', '-P', '16', '-Q', '8', '-T', '6', '--feature-dim', '8', '-o', cls.data])
        cls.samples = cls.path('s.h5')
        run(cls.sample_args(cls.data, cls.samples))
        cls.theory = cls.path('t.h5')
        run(['theory', '--data', cls.data, '--widths', '10', '--temperatures', '0.1', '-o', cls.theory])

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @staticmethod
    def sample_args(data, out):
        return ['sample', '--data', data, '--width', '10', '--temperature', '0.1', '--chains', '1', '--draws', '20',
                '--warmup', '20', '-q', '-o', out]

    def scaled_copy(self, name, factor, source=None):
        path = self.path(name)
        shutil.copy(source or self.data, path)
        with h5py.File(path, 'r+') as f:
            f['train/x'][...] = f['train/x'][:] * factor
        return path

    def test_overflowing_input_is_refused(self):
        # x × 1e300 overflows every kernel: refused as bad input before anything is sampled or stored.
        out = self.path('huge.h5')
        p = run(self.sample_args(self.scaled_copy('huge_x.h5', 1e300), out), check=False)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn('too large', p.stderr + p.stdout)
        self.assertFalse(os.path.exists(out))

    def test_chain_that_always_diverges_is_an_error(self):
        # x × 1e100 (finite, but absurdly scaled): the joint posterior is so stiff that every draw after
        # warm-up diverges; that is exit 4, never a file of stuck draws.
        base = self.path('stiff_base.h5')
        run(['data', 'markov', '-P', '20', '-Q', '20', '-o', base, '--overwrite'])
        out = self.path('stiff.h5')
        args = self.sample_args(self.scaled_copy('stiff_x.h5', 1e100, base), out) + ['--target', 'joint']
        p = run(args, check=False)
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertIn('divergent', p.stderr + p.stdout)
        self.assertFalse(os.path.exists(out))

    def test_one_failing_chain_stops_every_rank(self):
        # Chain 1 fails mid-sampling while chain 0 is elsewhere (issue 7): the error reaches main, which
        # aborts every rank with the chain's message and exit code; nothing hangs, no file is committed.
        out = self.path('fail.h5')
        args = ['sample', '--data', self.data, '--width', '10', '--temperature', '0.1', '--chains', '2', '--draws',
                '40', '--warmup', '20', '-q', '--checkpoint-every', '10', '--fail-after', '25', '-o', out]
        p = run(args, ranks=2, check=False, timeout=120)
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertIn('sample, chain 1:', p.stderr)
        self.assertIn('--fail-after 25', p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_diagnostics_warn_and_do_not_pass(self):
        with h5py.File(self.samples, 'r') as f:
            d = f['diagnostics'].attrs
            self.assertEqual(int(d['passed']), 0)
            warnings = [str(w) for w in d['warnings']]
            self.assertTrue(any('ESS < 100' in w for w in warnings), warnings)
            # NaN is propagated, never replaced by a passing number.
            for k in ('rhat_max_U1', 'rhat_max_predictor'):
                v = float(d[k])
                self.assertTrue(np.isnan(v) or v > 1.0, (k, v))

    def test_compare_does_not_agree_when_diagnostics_fail(self):
        out = self.path('c.h5')
        p = run(['compare', '--theory', self.theory, '--samples', self.samples, '-o', out])
        self.assertIn('diagnostics failed', p.stdout + p.stderr)
        self.assertNotIn(' agrees', p.stdout)
        with h5py.File(out, 'r') as f:
            self.assertEqual(list(f['compare/diagnostics_passed'][:]), [0])

    def expect_refused(self, theory, samples, needle):
        p = run(['compare', '--theory', theory, '--samples', samples], check=False)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn(needle, p.stdout + p.stderr)

    def test_compare_refuses_samples_of_another_dataset(self):
        other = self.path('other.h5')
        run(['data', 'markov', '-P', '16', '-Q', '8', '-T', '6', '--feature-dim', '8', '--seed', '2', '-o', other])
        samples = self.path('s_other.h5')
        run(self.sample_args(other, samples))
        self.expect_refused(self.theory, samples, 'another dataset')

    def test_compare_refuses_partial_files(self):
        partial = self.path('copy.h5.partial')
        shutil.copy(self.samples, partial)
        self.expect_refused(self.theory, partial, 'unfinished')
        tpartial = self.path('t.h5.partial')
        shutil.copy(self.theory, tpartial)
        self.expect_refused(tpartial, self.samples, 'unfinished')

    def test_compare_refuses_nan_results(self):
        bad = self.path('nan.h5')
        shutil.copy(self.samples, bad)
        with h5py.File(bad, 'r+') as f:
            f['sampled/predictor/mean'][0] = np.nan
        self.expect_refused(self.theory, bad, 'NaN')

    def test_compare_flags_unconverged_theory(self):
        theory = self.path('t_unconverged.h5')
        p = run(['theory', '--data', self.data, '--widths', '10', '--temperatures', '0.1', '--max-iterations', '1',
                 '-o', theory], check=False)
        self.assertTrue(os.path.exists(theory), p.stdout + p.stderr)
        out = self.path('c_unconverged.h5')
        p = run(['compare', '--theory', theory, '--samples', self.samples, '-o', out])
        self.assertIn('did not converge', p.stderr)
        self.assertIn('NOT CONVERGED', p.stdout)
        with h5py.File(out, 'r') as f:
            self.assertEqual(list(f['compare/theory_converged'][:]), [0])


if __name__ == '__main__':
    unittest.main()
