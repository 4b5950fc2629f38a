#!/usr/bin/env python3
"""Self-describing outputs (docs/files.md): every dataset of a theory, samples and compare file has a
`description` attribute, and its axes carry HDF5 dimension scales (temperatures, widths, paths,
examples, chains, draws) that h5py users reach through `ds.dims[i][0]`. Also runs the ArviZ-shaped
loader printed in docs/sampling.md and checks the shapes it returns (ArviZ itself is not in Debian 12;
when it is importable the dict also goes through arviz.from_dict).
"""
import os
import re
import unittest

import h5py
import numpy as np

from common import run, scratch

SRC = os.environ.get('ATTNPATHS_SOURCE_DIR', '.')


def datasets(f):
    out = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def scale(ds, i):
    """(name, values) of the dimension scale attached to axis i."""
    assert len(ds.dims[i]) == 1, f'{ds.name} axis {i}: {len(ds.dims[i])} scales attached'
    s = ds.dims[i][0]
    return ds.dims[i].keys()[0], s[()]


def as_str(a):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in a]


class OutputsDescribed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.dir = scratch('outputs_described')
        cls.data = os.path.join(d, 'data.h5')
        run(['data', 'markov', '-P', '40', '-Q', '30', '--validation-examples', '10', '-T', '6',
             '--feature-dim', '10', '-o', cls.data])
        cls.theory = os.path.join(d, 'theory.h5')
        run(['theory', '--data', cls.data, '--widths', '10,30', '--temperatures', '0.01,0.1', '-o', cls.theory],
            ranks=2)
        cls.samples = os.path.join(d, 'samples.h5')
        run(['sample', '--data', cls.data, '--width', '10', '--temperature', '0.01', '--chains', '2', '--draws', '12',
             '--warmup', '12', '--thin', '3', '--seed', '3', '-o', cls.samples], ranks=2)
        cls.compare = os.path.join(d, 'compare.h5')
        run(['compare', '--theory', cls.theory, '--samples', cls.samples, '-o', cls.compare])

    def assert_described(self, path):
        with h5py.File(path, 'r') as f:
            missing = [n for n in datasets(f) if not str(f[n].attrs.get('description', '')).strip()]
        self.assertEqual(missing, [], f'{path}: datasets without a description')

    def test_every_dataset_has_a_description(self):
        for p in (self.theory, self.samples, self.compare):
            self.assert_described(p)

    def test_theory_scales(self):
        with h5py.File(self.theory, 'r') as f:
            labels = as_str(f['data'].attrs['path_labels'])
            u1 = f['theory/U1']
            self.assertEqual(scale(u1, 0)[0], 'temperatures')
            np.testing.assert_array_equal(scale(u1, 0)[1], [0.01, 0.1])
            self.assertEqual(scale(u1, 1)[0], 'widths')
            np.testing.assert_array_equal(scale(u1, 1)[1], [10, 30])
            for i in (2, 3):
                name, vals = scale(u1, i)
                self.assertEqual((name, as_str(vals)), ('paths', labels))
            name, vals = scale(f['predictor/theory/mean'], 2)
            self.assertEqual(name, 'test_examples')
            np.testing.assert_array_equal(vals, np.arange(30))
            self.assertEqual(scale(f['predictor/validation/gp/mean'], 1)[0], 'validation_examples')
            self.assertEqual(len(scale(f['predictor/validation/gp/mean'], 1)[1]), 10)
            self.assertEqual(scale(f['predictor/gp/accuracy'], 0)[0], 'temperatures')
            self.assertIn('U_1', f['theory/U1'].attrs['description'])

    def test_samples_and_compare_scales(self):
        with h5py.File(self.samples, 'r') as f:
            u1 = f['samples/U1']
            self.assertEqual([scale(u1, i)[0] for i in range(4)], ['chains', 'draws', 'paths', 'paths'])
            self.assertEqual(len(scale(u1, 1)[1]), 12)
            self.assertEqual(scale(f['samples/f_test'], 1)[0], 'thinned_draws')
            self.assertEqual(len(scale(f['samples/f_test'], 1)[1]), 4)
            self.assertEqual(scale(f['diagnostics/chains/ebfmi'], 0)[0], 'chains')
        with h5py.File(self.compare, 'r') as f:
            self.assertEqual(scale(f['compare/U1/theory'], 0)[0], 'widths')
            self.assertEqual(scale(f['compare/U1/theory'], 1)[0], 'paths')

    def test_documented_arviz_loader(self):
        with open(os.path.join(SRC, 'docs', 'sampling.md')) as f:
            text = f.read()
        m = re.search(r'<!-- loader -->\s*```python\n(.*?)```', text, re.S)
        self.assertIsNotNone(m, 'docs/sampling.md has no loader block (<!-- loader --> then ```python)')
        ns = {}
        exec(compile(m.group(1), 'docs/sampling.md', 'exec'), ns)
        groups = ns['load_samples'](self.samples)
        with h5py.File(self.samples, 'r') as f:
            C, S, H = f['samples/U1'].shape[:3]
            Q = f['samples/f_test'].shape[2]
        self.assertEqual(groups['posterior']['U1'].shape, (C, S, H, H))
        self.assertEqual(groups['posterior_predictive']['f_test'].shape, (C, 4, Q))
        for name, v in groups['sample_stats'].items():
            self.assertEqual(v.shape, (C, S), name)
        for name in ('diverging', 'lp', 'acceptance_rate', 'tree_depth', 'energy', 'step_size', 'n_steps'):
            self.assertIn(name, groups['sample_stats'])
        for var, dims in groups['dims'].items():
            arr = {**groups['posterior'], **groups['posterior_predictive']}[var]
            self.assertEqual(len(dims), arr.ndim - 2, var)
            for d, n in zip(dims, arr.shape[2:]):
                if d in groups['coords']:
                    self.assertEqual(len(groups['coords'][d]), n, d)
        try:
            import arviz
        except ImportError:
            return
        idata = arviz.from_dict(**groups)
        self.assertEqual(idata.posterior['U1'].shape, (C, S, H, H))


if __name__ == '__main__':
    unittest.main(verbosity=2)
