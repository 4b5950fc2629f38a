#!/usr/bin/env python3
"""A user's own dataset file through `attnpaths theory` (docs/files.md §1): "qk" and "w" heads, L = 3 with
unequal head counts, softmax and hardmax, the three readouts, validation and OOD sets.

The GP predictor (U_1 = I) on every evaluation set must equal an independent brute-force numpy
computation from the path-propagated inputs x~ (docs/model.md §1.3, §3.6) to 1e-10, on 1 and 2 ranks.
"""
import os
import unittest

import h5py
import numpy as np

from common import run, scratch

T, N0, G = 7, 5, 3
HEADS = [2, 1, 3]  # L = 3, H_tot = 6


def attention(layer, x, nonlinearity):
    """Omega [H, T(key), T(query)] for one example x [T, N0]."""
    if 'w' in layer:
        pre = np.einsum('si,hij,tj->hst', x, layer['w'], x)
    else:
        pre = np.einsum('hgi,si,hgj,tj->hst', layer['k'], x, layer['q'], x) / np.sqrt(G)
    if nonlinearity == 'hardmax':
        out = np.zeros_like(pre)
        idx = pre.argmax(axis=1)  # first arg-max over keys s
        for h in range(pre.shape[0]):
            out[h, idx[h], np.arange(T)] = 1.0
        return out
    e = np.exp(pre - pre.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def path_inputs(x, layers, readout, nonlinearity):
    """x~ [H_tot, N0]: products of attention matrices, layer-1 head slowest."""
    oms = [attention(l, x, nonlinearity) for l in layers]
    last = oms[-1]
    if readout == 'last_token':
        v = last[:, :, -1]
    elif readout == 'first_token':
        v = last[:, :, 0]
    else:
        v = last.mean(axis=2)
    vecs = list(v)  # partial paths over the last layer
    for om in reversed(oms[:-1]):
        vecs = [om[h] @ w for h in range(om.shape[0]) for w in vecs]
    return np.array([a @ x for a in vecs])


def gp_predictor(xtr, ytr, xte, layers, readout, nonlinearity, temp):
    H = np.prod(HEADS)
    X = np.array([path_inputs(x, layers, readout, nonlinearity) for x in xtr]).reshape(len(xtr), -1)
    Xs = np.array([path_inputs(x, layers, readout, nonlinearity) for x in xte]).reshape(len(xte), -1)
    s2 = 1.0 / (N0 * H)
    K = s2 * X @ X.T + temp * np.eye(len(xtr))
    ks = s2 * X @ Xs.T
    mean = ks.T @ np.linalg.solve(K, ytr)
    var = s2 * np.einsum('qi,qi->q', Xs, Xs) - np.einsum('pq,pq->q', ks, np.linalg.solve(K, ks))
    return mean, var


def make_dataset(path, readout, nonlinearity, seed):
    rng = np.random.default_rng(seed)
    sets = {'train': 24, 'test': 11, 'validation': 6, 'ood/shifted': 5}
    data = {}
    with h5py.File(path, 'w') as f:
        f.attrs['format'] = 'attnpaths-dataset'
        f.attrs['version'] = 1
        f.attrs['task'] = 'user-test'
        f.attrs['targets'] = 'regression'  # real-valued targets (docs/data.md)
        for name, n in sets.items():
            x = rng.normal(size=(n, T, N0)) + (0.7 if name.startswith('ood') else 0.0)
            y = np.where(np.arange(n) < n // 2, 1.0, -1.0) * (1 + 0.1 * rng.normal(size=n))  # real-valued targets
            f[f'{name}/x'] = x
            f[f'{name}/y'] = y
            data[name] = (x, y)
        a = f.create_group('attention')
        a.attrs['layers'] = 3
        a.attrs['readout'] = readout
        a.attrs['nonlinearity'] = nonlinearity
        layers = []
        for l, h in enumerate(HEADS, start=1):
            g = a.create_group(f'layer_{l}')
            if l == 2:
                g.attrs['style'] = 'w'
                w = rng.normal(size=(h, N0, N0))
                g['w'] = w
                layers.append({'w': w})
            else:
                g.attrs['style'] = 'qk'
                q, k = rng.normal(size=(h, G, N0)), rng.normal(size=(h, G, N0))
                g['q'], g['k'] = q, k
                layers.append({'q': q, 'k': k})
    return data, layers


class UserDataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-user-dataset')

    def check(self, readout, nonlinearity, ranks):
        d = self.dir
        data_path = os.path.join(d, f'{readout}-{nonlinearity}.h5')
        out = os.path.join(d, f'theory-{readout}-{nonlinearity}-np{ranks}.h5')
        data, layers = make_dataset(data_path, readout, nonlinearity, seed=len(readout) + len(nonlinearity))
        temp = 0.05
        run(['theory', '--data', data_path, '--widths', '20', '--temperatures', str(temp), '--kernel-subset', '6',
             '--alignment', '4', '-o', out], ranks=ranks)
        with h5py.File(out, 'r') as f:
            self.assertEqual(list(f['data'].attrs['heads']), HEADS)
            self.assertEqual(f['theory/U1'].shape, (1, 1, 6, 6))
            self.assertEqual(f['theory/U2'].shape, (1, 1, 3, 3))
            self.assertEqual(f['theory/U3'].shape, (1, 1, 3, 3))
            self.assertEqual(f['theory/converged'][0, 0], 1)
            for name, group in [('test', 'predictor'), ('validation', 'predictor/validation'),
                                ('ood/shifted', 'predictor/ood/shifted')]:
                mean, var = gp_predictor(*data['train'], data[name][0], layers, readout, nonlinearity, temp)
                np.testing.assert_allclose(f[group + '/gp/mean'][0], mean, rtol=0, atol=1e-10, err_msg=name)
                np.testing.assert_allclose(f[group + '/gp/var'][0], var, rtol=0, atol=1e-10, err_msg=name)
                self.assertEqual(f[group + '/theory/mean'].shape, (1, 1, len(mean)))
            # The per-path kernels C_pp on the stored subset see the path order (the GP sum does not).
            subset = f['kernels/subset'][:]
            xi = np.array([path_inputs(data['train'][0][m], layers, readout, nonlinearity) for m in subset])
            xi /= np.sqrt(N0 * np.prod(HEADS))
            np.testing.assert_allclose(f['kernels/path'][:], np.einsum('api,bpi->pab', xi, xi), rtol=0, atol=1e-10)

    def test_softmax_mean_readout(self):
        for ranks in (1, 2):
            self.check('mean', 'softmax', ranks)

    def test_hardmax_first_token(self):
        self.check('first_token', 'hardmax', 2)

    def test_softmax_last_token(self):
        self.check('last_token', 'softmax', 1)


if __name__ == '__main__':
    unittest.main(verbosity=2)
