#!/usr/bin/env python3
"""The paper's qualitative Markov results on the default data (docs/model.md §5.1), through the commands.

4 paths (default `attnpaths data markov`), Temp = 0.01:
  * at N = 10 the finite-width theory beats the all-paths GP by >= 8 accuracy points;
  * at N = 10 the g-d entry of U_1 is negative and the a1, a2 diagonal entries lie below the GP value 1;
  * at N = 1000 the theory is within 2 points of the GP.
The noisier 2-path task (s_oop = 5): the gain over the GP comes from the off-diagonal g-d term, so the
diagonal-only U_1 loses most of it at N = 10.
"""
import os
import unittest

import h5py
import numpy as np

from common import run, scratch


class MarkovPaper(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-markov-paper')

    def theory(self, name, data_args):
        data = os.path.join(self.dir, f'{name}.h5')
        out = os.path.join(self.dir, f'theory_{name}.h5')
        run(['data', 'markov', *data_args, '-o', data])
        run(['theory', '--data', data, '--widths', '10,1000', '--temperatures', '0.01', '--alignment', '0', '-o', out])
        return h5py.File(out, 'r')

    def test_four_paths(self):
        f = self.theory('4paths', ['--heads', '4paths'])
        labels = list(f['data'].attrs['path_labels'])
        g, a1, d, a2 = (labels.index(k) for k in ('g', 'a1', 'd', 'a2'))
        acc = f['predictor/theory/accuracy'][0]
        gp = f['predictor/gp/accuracy'][0]
        U = f['theory/U1'][0, 0]
        print(f'4 paths: N=10 theory {acc[0]:.3f}, N=1000 theory {acc[1]:.3f}, GP {gp:.3f}')
        print('U_1 at N = 10 (g, a1, d, a2):\n', np.round(U, 3))
        self.assertGreaterEqual(acc[0] - gp, 0.08, 'N = 10: theory must beat the GP by >= 8 points')
        self.assertLess(U[g, d], 0.0, 'N = 10: the g-d entry of U_1 must be negative')
        self.assertLess(U[a1, a1], 1.0)
        self.assertLess(U[a2, a2], 1.0)
        self.assertGreater(U[g, g], 1.0)
        self.assertGreater(U[d, d], 1.0)
        self.assertLessEqual(abs(acc[1] - gp), 0.02, 'N = 1000: theory within 2 points of the GP')

    def test_two_paths_noisier(self):
        f = self.theory('2paths', ['--heads', '2paths', '--noise-out-of-plane', '5'])
        acc = f['predictor/theory/accuracy'][0]
        diag = f['predictor/theory_diagonal/accuracy'][0]
        gp = f['predictor/gp/accuracy'][0]
        U = f['theory/U1'][0, 0]
        print(f'2 paths (noisier): N=10 theory {acc[0]:.3f}, diagonal-only {diag[0]:.3f}, GP {gp:.3f}; U_1 =\n',
              np.round(U, 3))
        self.assertGreater(acc[0] - gp, 0.0)
        self.assertLess(U[0, 1], 0.0)
        self.assertLess(diag[0] - gp, 0.5 * (acc[0] - gp), 'diagonal-only U_1 must lose most of the gain')


if __name__ == '__main__':
    unittest.main(verbosity=2)
