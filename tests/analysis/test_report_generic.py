#!/usr/bin/env python3
"""analysis/report.py on a dataset that is not the Markov task (a user's own file: task "toy", one layer
of three "w" heads, `mean` readout; docs/files.md §1), theory at 2 widths × 2 temperatures:
 * the title names the task from the file, the path labels are the file's, nothing mentions the
   Markov task or its labels, and none of the paper's Markov claims is judged;
 * the accuracy figure draws the GP line of every temperature;
 * the U_1 heat maps show U_1 − U_1^GP (the GP value from the recorded variances);
 * the report still matches its HDF5 numbers (tests/analysis/check_report.py).
"""
import os
import re
import subprocess
import sys
import unittest

import h5py
import numpy as np

SRC = os.environ.get('ATTNPATHS_SOURCE_DIR', '.')
sys.path.insert(0, os.path.join(SRC, 'tests', 'e2e'))
sys.path.insert(0, os.path.join(SRC, 'analysis'))
from common import run, scratch  # noqa: E402

PY = os.environ.get('PYTHON', '/usr/bin/python3')
T, N0, H = 5, 6, 3


def write_toy(path, seed=4):
    rng = np.random.default_rng(seed)
    with h5py.File(path, 'w') as f:
        f.attrs['format'], f.attrs['version'], f.attrs['task'] = 'attnpaths-dataset', 1, 'toy'
        for name, n in (('train', 40), ('test', 30)):
            x = rng.normal(size=(n, T, N0))
            f[f'{name}/x'] = x
            f[f'{name}/y'] = np.sign(x[:, :, 0].mean(axis=1) + 1e-9)
        a = f.create_group('attention')
        a.attrs['layers'], a.attrs['readout'], a.attrs['nonlinearity'] = 1, 'mean', 'softmax'
        g = a.create_group('layer_1')
        g.attrs['style'] = 'w'
        g['w'] = rng.normal(size=(H, N0, N0)) / N0


class GenericReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.dir = scratch('analysis_report_generic')
        os.makedirs(os.path.join(d, 'theory'))
        write_toy(os.path.join(d, 'toy.h5'))
        cls.theory = os.path.join(d, 'theory', 'toy.h5')
        run(['theory', '--data', os.path.join(d, 'toy.h5'), '--widths', '10,300', '--temperatures', '0.01,0.1',
             '-o', cls.theory])
        p = subprocess.run([PY, os.path.join(SRC, 'analysis', 'report.py'), d, '-o', os.path.join(d, 'report'),
                            '--main', 'toy'], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        with open(os.path.join(d, 'report', 'report.md')) as f:
            cls.md = f.read()
        with h5py.File(cls.theory, 'r') as f:
            cls.labels = [x.decode() if isinstance(x, bytes) else str(x) for x in f['data'].attrs['path_labels']]

    def test_title_and_labels_from_the_file(self):
        title = self.md.splitlines()[0]
        self.assertIn("task 'toy'", title)
        self.assertNotIn('markov', self.md.lower())
        self.assertIn(f"main: 3 paths ({', '.join(self.labels)})", self.md)
        for markov_label in (r'\ba1\b', r'\ba2\b', r'g alone', r'g \+ d', r'\bg–d\b'):
            self.assertIsNone(re.search(markov_label, self.md), markov_label)

    def test_no_markov_claims(self):
        self.assertNotIn('paper: > 10', self.md)
        self.assertNotIn('amplified', self.md.split('## What was run')[0])

    def test_figures(self):
        from attnreport import figures as F
        from attnreport import results as R
        captured = []
        save = F._save
        F._save = lambda fig, *a, **k: (captured.append(fig), save(fig, *a, **k))[1]
        try:
            th = R.load_theory(self.dir, 'toy')
            F.accuracy_vs_width(th, {}, [], self.dir)
            F.u1_heatmaps(th, self.dir)
        finally:
            F._save = save
        acc, u1 = captured
        gp_lines = [l for l in acc.axes[0].get_lines() if l.get_label().startswith('GP limit')]
        self.assertEqual(len(gp_lines), 2, 'one GP line per temperature')
        with h5py.File(self.theory, 'r') as f:
            gp = f['predictor/gp/accuracy'][()]
            U = f['theory/U1'][0]
        np.testing.assert_allclose(sorted(l.get_ydata()[0] for l in gp_lines), sorted(100 * gp))
        panels = [ax for ax in u1.axes if ax.images]
        self.assertEqual(len(panels), 2)
        for ax, iw in zip(panels, range(2)):
            np.testing.assert_allclose(ax.images[0].get_array(), U[iw] - th.gp_u1 * np.eye(H), atol=1e-12)
            norm = ax.images[0].norm
            self.assertAlmostEqual(norm.vcenter, 0.0)   # centred at the GP value
            self.assertAlmostEqual(norm.vmax, np.abs(U[iw] - np.eye(H)).max())  # its own scale

    def test_z_scores(self):
        from attnreport import figures as F
        t = np.array([[1.0, -0.5], [-0.5, 2.0]])
        s = np.array([[1.2, -0.5], [-0.4, 1.0]])
        mc = np.array([[0.1, 0.0], [0.05, 0.5]])
        z = F.u1_z_scores(t, s, mc)
        np.testing.assert_allclose(z, [[2.0, np.nan], [2.0, -2.0]])
        self.assertIsNone(F.u1_z_scores(t, s, None))

    def test_numbers_match_the_files(self):
        p = subprocess.run([PY, os.path.join(SRC, 'tests', 'analysis', 'check_report.py'),
                            os.path.join(self.dir, 'report'), self.dir,
                            '--figures', 'accuracy_vs_width,u1_heatmaps,kernels,alignment'],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])


if __name__ == '__main__':
    unittest.main(verbosity=2)
