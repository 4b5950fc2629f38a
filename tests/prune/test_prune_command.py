#!/usr/bin/env python3
"""`attnpaths prune` (docs/pruning.md) on a tiny trained network (2 layers x 3 heads, width 6, 20 steps).

Checked against independent computations: head scores and the temperature choice from the theory file
(numpy); U^GD from the model's weights (numpy); the theory-side pruned predictor from the dataset's x and
attention (numpy: path inputs, kernel, predictor mean); the network-side accuracy and loss of every
single-head removal and of the last progressive step against `attnpaths train --evaluate --remove-heads`;
Spearman against scipy; progressive curves start at the unpruned accuracy; 1 and 2 ranks agree; every
dataset is described; exit codes of bad inputs.
"""
import os
import re
import shutil
import sys
import unittest

import h5py
import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'e2e'))
from common import run, scratch  # noqa: E402

HEADS = 3


def softmax_keys(a):
    e = np.exp(a - a.max(axis=-2, keepdims=True))
    return e / e.sum(axis=-2, keepdims=True)


def path_inputs(f, name):
    """x~ [n, H_tot, N0] for 2 "qk" layers and the mean readout (layer-1 head slowest)."""
    x = f[name + '/x'][()]
    om = []
    for l in (1, 2):
        q, k = f[f'attention/layer_{l}/q'][()], f[f'attention/layer_{l}/k'][()]
        G = q.shape[1]
        pre = np.einsum('hgi,nsi,hgj,ntj->nhst', k, x, q, x) / np.sqrt(G)  # [n, h, key s, query t]
        om.append(softmax_keys(pre))
    w2 = om[1].mean(axis=3)  # [n, h2, s]
    a = np.einsum('nhst,nHt->nhHs', om[0], w2).reshape(x.shape[0], -1, x.shape[1])
    return np.einsum('nps,nsi->npi', a, x), f[name + '/y'][()]


def theory_predictor(data, U, temp, sets):
    """Predictor mean on each set with order parameter U (all prior variances 1)."""
    with h5py.File(data, 'r') as f:
        xtr, ytr = path_inputs(f, 'train')
        out = {}
        for s in sets:
            xs, ys = path_inputs(f, s)
            H, N0 = xtr.shape[1], xtr.shape[2]
            c = 1.0 / (N0 * H)
            K = c * np.einsum('api,pq,bqi->ab', xtr, U, xtr) + temp * np.eye(len(ytr))
            ks = c * np.einsum('api,pq,bqi->ab', xtr, U, xs)
            out[s] = (ks.T @ np.linalg.solve(K, ytr), ys)
    return out


def heads_through(l, h, H=HEADS):
    """Paths (h1*H + h2) through head h of layer l."""
    return [p for p in range(H * H) if (p // H if l == 1 else p % H) == h]


def evaluate(model, data, sets, removed):
    """`train --evaluate` -> {set: (accuracy, loss)}."""
    args = ['train', '--evaluate', model, '--data', data, '--set', ','.join(sets)]
    if removed:
        args += ['--remove-heads', ','.join(f'{l}:{h}' for l, h in removed)]
    out = run(args).stdout
    return {m[0]: (float(m[1]), float(m[2])) for m in re.findall(r'(\S+): accuracy ([0-9.]+), loss ([0-9.]+)', out)}


class Prune(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.dir = scratch('prune_command')
        cls.raw = os.path.join(d, 'tiny.h5')
        run(['data', 'markov', '--heads', '4paths', '-P', '16', '-Q', '20', '--validation-examples', '20', '-T', '6',
             '--feature-dim', '8', '-o', cls.raw])
        cls.model, cls.data = os.path.join(d, 'model.h5'), os.path.join(d, 'trained.h5')
        run(['train', '--data', cls.raw, '-o', cls.model, '--output-data', cls.data, '--stream', 'synthetic',
             '--width', '6', '--qk-dim', '3', '--heads', str(HEADS), '--layers', '2', '--batch', '12',
             '--reduction-blocks', '4', '--lr', '0.01', '--validate-every', '5', '--patience', '0',
             '--precision', 'float64', '--quiet', '--steps', '20'])
        cls.theory = os.path.join(d, 'theory.h5')
        run(['theory', '--data', cls.data, '--widths', '10,30', '--temperatures', '0.05,0.5', '-o', cls.theory])
        cls.out = {}
        for ranks in (1, 2):
            cls.out[ranks] = os.path.join(d, f'prune{ranks}.h5')
            p = run(['prune', '--data', cls.data, '--theory', cls.theory, '--model', cls.model, '--random-orders', '10',
                     '--seed', '3', '-o', cls.out[ranks]], ranks=ranks)
            cls.log = p.stdout
        cls.f = h5py.File(cls.out[1], 'r')
        cls.sets = [s.decode() if isinstance(s, bytes) else s for s in cls.f['data'].attrs['sets']]

    def test_temperature_from_validation_and_scores(self):
        with h5py.File(self.theory, 'r') as t:
            temps, widths = t['theory/temperatures'][()], list(t['theory/widths'][()])
            iw = widths.index(10)
            acc = t['predictor/validation/theory/accuracy'][:, iw]
            it = int(np.flatnonzero(acc == acc.max())[0])  # ties: the lowest temperature (ascending grid)
            U = t['theory/U1'][it, iw]
        # `theory` wrote its own /selection (≥ 2 temperatures and a validation set): the same pick.
        self.assertEqual(self.f['data'].attrs['temperature_rule'], 'theory selection')
        self.assertEqual(self.f['data'].attrs['temperature'], temps[it])
        np.testing.assert_array_equal(self.f['theory/U1'][()], U)
        S = (np.abs(U) + np.abs(U).T) / 2
        raw = np.zeros((2, HEADS))
        for l in (1, 2):
            for h in range(HEADS):
                m = np.zeros(HEADS * HEADS, bool)
                m[heads_through(l, h)] = True
                raw[l - 1, h] = S[m, :].sum() + S[:, m].sum() - S[np.ix_(m, m)].sum()
        np.testing.assert_allclose(self.f['heads/score_raw'][()], raw, rtol=1e-12)
        np.testing.assert_allclose(self.f['heads/score'][()], raw / raw.max(), rtol=1e-12)
        order = self.f['heads/order'][()]
        scores = [raw[l - 1, h] for l, h in order]
        self.assertEqual(scores, sorted(scores))
        self.assertEqual(sorted(map(tuple, order)), [(l, h) for l in (1, 2) for h in range(HEADS)])

    def test_gd_order_parameter(self):
        with h5py.File(self.model, 'r') as m:
            v, a = m['weights/v'][()], m['weights/a'][()]
        W = np.array([a @ v[1, h2] @ v[0, h1] for h1 in range(HEADS) for h2 in range(HEADS)])
        U = W @ W.T
        np.testing.assert_allclose(self.f['gd/U1'][()], U, rtol=1e-10, atol=1e-12 * np.abs(U).max())
        np.testing.assert_allclose(self.f['gd/U1_normalised'][()], U / np.abs(U).max(), rtol=1e-10, atol=1e-12)

    def test_network_single_heads_equal_train_evaluate(self):
        base = evaluate(self.model, self.data, self.sets, [])
        for s in self.sets:
            g = self.f[f'pruning/network/{s}']
            self.assertAlmostEqual(g['full'][()], base[s][0], places=4)
            self.assertAlmostEqual(g['full_loss'][()], base[s][1], places=6)
        for l in (1, 2):
            for h in range(HEADS):
                ref = evaluate(self.model, self.data, self.sets, [(l, h)])
                for s in self.sets:
                    g = self.f[f'pruning/network/{s}']
                    self.assertAlmostEqual(g['single'][l - 1, h], ref[s][0], places=4, msg=f'{s} {l}:{h}')
                    self.assertAlmostEqual(g['single_loss'][l - 1, h], ref[s][1], places=6, msg=f'{s} {l}:{h}')
                    self.assertAlmostEqual(g['drop'][l - 1, h], g['full'][()] - g['single'][l - 1, h], places=12)

    def test_progressive_ends(self):
        seq = self.f['pruning/ascending_heads'][()]
        self.assertEqual(len(seq), 2 * (HEADS - 1))  # one head left per layer
        for side in ('network', 'theory'):
            for s in self.sets:
                g = self.f[f'pruning/{side}/{s}']
                full = g['full'][()]
                self.assertEqual(g['ascending'][0], full)
                self.assertEqual(g['descending'][0], full)
                np.testing.assert_array_equal(g['random'][:, 0], full)
                np.testing.assert_allclose(g['random_mean'][()], g['random'][()].mean(axis=0), rtol=1e-12)
                np.testing.assert_allclose(g['random_std'][()], g['random'][()].std(axis=0, ddof=1), atol=1e-12)
                for k in (1,):  # one head removed = that single head
                    l, h = seq[k - 1]
                    self.assertEqual(g['ascending'][k], g['single'][l - 1, h])
        ref = evaluate(self.model, self.data, self.sets, [tuple(x) for x in seq])
        for s in self.sets:
            self.assertAlmostEqual(self.f[f'pruning/network/{s}/ascending'][-1], ref[s][0], places=4)
        for r, order in enumerate(self.f['pruning/random_heads'][()]):  # valid removal sequences
            self.assertEqual(len({tuple(x) for x in order}), len(order))
            self.assertEqual(sorted(np.bincount(order[:, 0], minlength=3)[1:]), [HEADS - 1, HEADS - 1])
        self.assertGreater(len({tuple(map(tuple, o)) for o in self.f['pruning/random_heads'][()]}), 1)

    def test_theory_side_against_numpy(self):
        U, temp = self.f['theory/U1'][()], self.f['data'].attrs['temperature']
        seq = [tuple(x) for x in self.f['pruning/ascending_heads'][()]]
        cases = [('full', None, [])] + [('single', (l, h), [(l, h)]) for l in (1, 2) for h in range(HEADS)]
        cases += [('ascending', len(seq), seq)]
        for what, at, removed in cases:
            Up = U.copy()
            for l, h in removed:
                Up[heads_through(l, h), :] = 0
                Up[:, heads_through(l, h)] = 0
            for s, (mean, y) in theory_predictor(self.data, Up, temp, self.sets).items():
                g = self.f[f'pruning/theory/{s}']
                acc = np.mean(np.sign(mean) == y)
                got = g[what][()] if at is None else (g[what][at[0] - 1, at[1]] if what == 'single' else g[what][at])
                self.assertAlmostEqual(got, acc, places=12, msg=f'{what} {removed} {s}')
                if what in ('full', 'single'):
                    loss = g['full_loss'][()] if at is None else g['single_loss'][at[0] - 1, at[1]]
                    self.assertAlmostEqual(loss, np.mean((mean - y) ** 2), places=9, msg=f'{what} {removed} {s}')
        with h5py.File(self.theory, 'r') as t:  # the unpruned theory = the theory file's accuracy
            it = list(t['theory/temperatures'][()]).index(temp)
            self.assertEqual(self.f['pruning/theory/test/full'][()], t['predictor/theory/accuracy'][it, 0])

    def test_spearman_against_scipy(self):
        score = self.f['heads/score'][()].ravel()
        for side in ('network', 'theory'):
            for s in self.sets:
                g = self.f[f'pruning/{side}/{s}']
                drop = g['drop'][()].ravel()
                rho = stats.spearmanr(score, drop).correlation
                if np.isnan(rho):
                    self.assertTrue(np.isnan(g['spearman'][()]))
                else:
                    self.assertAlmostEqual(g['spearman'][()], rho, places=12)
        self.assertIn('Spearman rho', self.log)

    def test_one_and_two_ranks_agree(self):
        with h5py.File(self.out[2], 'r') as g:
            names = []
            self.f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for n in names:
                if n.startswith(('provenance', 'scales')):
                    continue
                np.testing.assert_allclose(g[n][()], self.f[n][()], rtol=1e-9, atol=1e-12, err_msg=n)

    def test_every_dataset_described(self):
        missing = []
        self.f.visititems(lambda n, o: missing.append(n) if isinstance(o, h5py.Dataset) and
                          not str(o.attrs.get('description', '')).strip() else None)
        self.assertEqual(missing, [])
        self.assertEqual(self.f.attrs['format'], 'attnpaths-prune')
        self.assertEqual(self.f['config'].attrs['random_orders'], 10)

    def test_selection_file_and_theory_selection(self):
        sel = os.path.join(self.dir, 'selection.h5')
        with h5py.File(sel, 'w') as f:  # the layout of `attnpaths select` (docs/pruning.md)
            f['selection/widths'] = np.array([10, 30])
            f['selection/temperatures'] = np.array([0.05, 0.5])
            f['selection/theory/temperature'] = np.array([0.05, 0.5])
            f['selection/theory/temperature_index'] = np.array([0, 1])
        out = os.path.join(self.dir, 'selected.h5')
        run(['prune', '--data', self.data, '--theory', self.theory, '--selection', sel, '-o', out])
        with h5py.File(out, 'r') as f:
            self.assertEqual((f['data'].attrs['temperature_rule'], f['data'].attrs['temperature']), ('selection file', 0.05))
        own = os.path.join(self.dir, 'theory_selected.h5')
        shutil.copy(self.theory, own)
        with h5py.File(own, 'a') as f:
            del f['selection']
            f['selection/widths'] = np.array([30, 10])
            f['selection/theory/temperature'] = np.array([0.05, 0.5])
        run(['prune', '--data', self.data, '--theory', own, '--overwrite', '-o', out])
        with h5py.File(out, 'r') as f:
            self.assertEqual((f['data'].attrs['temperature_rule'], f['data'].attrs['temperature']), ('theory selection', 0.5))
        # Without any /selection: the validation rule (selection/), the same pick as numpy's.
        with h5py.File(own, 'a') as f:
            del f['selection']
            temps, iw = f['theory/temperatures'][()], list(f['theory/widths'][()]).index(10)
            acc = f['predictor/validation/theory/accuracy'][:, iw]
            expected = temps[int(np.flatnonzero(acc == acc.max())[0])]
        run(['prune', '--data', self.data, '--theory', own, '--overwrite', '-o', out])
        with h5py.File(out, 'r') as f:
            self.assertEqual((f['data'].attrs['temperature_rule'], f['data'].attrs['temperature']), ('validation', expected))

    def test_explicit_temperature_and_exit_codes(self):
        out = os.path.join(self.dir, 'explicit.h5')
        base = ['prune', '--data', self.data, '--theory', self.theory]
        run(base + ['--temperature', '0.5', '--width', '30', '-o', out])  # theory side only
        with h5py.File(out, 'r') as f:
            self.assertEqual(f['data'].attrs['temperature_rule'], 'option')
            self.assertEqual(f['data'].attrs['width'], 30)
            self.assertNotIn('network', f['pruning'])
        self.assertEqual(run(base + ['--temperature', '0.5', '-o', out], check=False).returncode, 3)  # exists
        bad = os.path.join(self.dir, 'bad.h5')
        self.assertEqual(run(base + ['--width', '20', '-o', bad], check=False).returncode, 3)
        self.assertEqual(run(base + ['--temperature', '0.3', '-o', bad], check=False).returncode, 3)
        self.assertEqual(run(['prune', '--data', self.raw, '--theory', self.theory, '-o', bad], check=False).returncode, 3)
        self.assertEqual(run(['prune', '--data', self.data, '-o', bad], check=False).returncode, 2)
        raw_theory = os.path.join(self.dir, 'raw_theory.h5')  # a dataset whose heads are not the model's
        run(['theory', '--data', self.raw, '--widths', '10', '--temperatures', '0.5', '-o', raw_theory])
        p = run(['prune', '--data', self.raw, '--theory', raw_theory, '--model', self.model, '-o', bad], check=False)
        self.assertEqual(p.returncode, 3)
        self.assertIn('output-data', p.stderr + p.stdout)
        self.assertFalse(os.path.exists(bad))


if __name__ == '__main__':
    unittest.main(verbosity=2)
