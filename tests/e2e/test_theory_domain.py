#!/usr/bin/env python3
"""`attnpaths theory` where the line search tries points outside the domain (issue 8, item 3).

At small N and large P (the dual form's regime) the first quasi-Newton trial steps of the minimiser
reach order parameters whose kernel K(U_1) + Temp·I is not numerically positive definite. Such a point
counts as S = +∞ and the line search steps back: the grid never aborts there, and the primal, dual and
path-pair forms reach the same minimum, on 1 and 2 ranks.
"""
import os
import unittest

import h5py
import numpy as np

from common import run, scratch


class TheoryDomain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-theory-domain')

    def path(self, name):
        return os.path.join(self.dir, name)

    def minimum(self, data, form, ranks):
        out = self.path(f'{os.path.basename(data)}-{form}-{ranks}.h5')
        run(['theory', '--data', data, '--widths', '10', '--temperatures', '0.01', '--form', form, '-o', out,
             '--overwrite'],
            ranks=ranks)
        with h5py.File(out, 'r') as f:
            self.assertEqual(int(f['theory/converged'][0, 0]), 1)
            return f['theory/U1'][0, 0], float(f['theory/action'][0, 0])

    def check_forms_agree(self, data, ranks=(1, 2)):
        ref_U, ref_S = self.minimum(data, 'primal', 1)
        for form in ('primal', 'dual', 'path-pairs'):
            for r in ranks:
                U, S = self.minimum(data, form, r)
                np.testing.assert_allclose(U, ref_U, rtol=0, atol=1e-8 * np.abs(ref_U).max(), err_msg=f'{form}, {r} ranks')
                self.assertAlmostEqual(S, ref_S, delta=1e-10 * abs(ref_S), msg=f'{form}, {r} ranks')

    def test_small_tokens_wide_features(self):
        # P = 200 < r = 244: path-pairs by default (primal before); aborted with "not positive definite"
        # (exit 4) before the domain fix.
        data = self.path('med.h5')
        run(['data', 'markov', '-P', '200', '-Q', '20', '-T', '10', '--feature-dim', '50', '-o', data])
        self.check_forms_agree(data)

    def test_default_task_dual_form(self):
        # The default task (P = 100, r = 924): the dual form aborted at N = 10 before, the primal worked.
        data = self.path('default.h5')
        run(['data', 'markov', '-Q', '20', '-o', data])
        self.check_forms_agree(data, ranks=(1,))


if __name__ == '__main__':
    unittest.main()
