#!/usr/bin/env python3
"""Temperature selection on the validation set (`theory` writes /selection; `attnpaths select`).

A 2 x 2 grid (N = 10, 100; Temp = 0.02, 0.5) on a Markov dataset with a validation set and a GP
baseline with its own validation set. The /selection group is checked against an independent numpy
computation from the theory file's own accuracies (highest validation accuracy, ties to the lowest
Temp, converged points only). `select` over two one-temperature files (a job array) gives the same
selection; mismatched files are refused; the output follows the claim/overwrite rules.
"""
import os
import sys
import unittest

import h5py
import numpy as np

from common import run, scratch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'analysis'))
from attnreport import files  # noqa: E402

TEMPS = [1.0, 0.001]  # deliberately not ascending: the selection sorts
WIDTHS = [10, 100]


def pick(validation, temps, candidates):
    """Independent rule: highest validation accuracy among candidates; ties -> lowest Temp."""
    best = None
    for i in np.argsort(temps, kind='stable'):
        if candidates[i] and not np.isnan(validation[i]) and (best is None or validation[i] > validation[best]):
            best = i
    return best


class Select(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch('e2e-select')
        small = ['-P', '24', '-Q', '16', '-T', '6', '--feature-dim', '8', '--validation-examples', '16', '--seed', '3']
        cls.data = cls.path('data.h5')
        run(['data', 'markov'] + small + ['-o', cls.data])
        cls.good = cls.path('good.h5')
        run(['data', 'markov'] + small + ['--heads', 'good', '-o', cls.good])
        cls.theory = cls.path('theory.h5')
        cls.common = ['--data', cls.data, '--widths', ','.join(map(str, WIDTHS)), '--gp-baseline', 'g=' + cls.good]
        run(['theory'] + cls.common + ['--temperatures', ','.join(map(str, TEMPS)), '-o', cls.theory])
        cls.parts = []
        for t in TEMPS:
            part = cls.path(f'theory_T{t}.h5')
            run(['theory'] + cls.common + ['--temperatures', str(t), '-o', part])
            cls.parts.append(part)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    def expected(self, f):
        temps = f['theory/temperatures'][:]
        val = f['predictor/validation/theory/accuracy'][:]
        test = f['predictor/theory/accuracy'][:]
        conv = f['theory/converged'][:]
        out = []
        for w in range(len(WIDTHS)):
            cand = conv[:, w] != 0
            i = pick(val[:, w], temps, cand if cand.any() else np.ones_like(cand))
            out.append((temps[i], val[i, w], test[i, w]))
        gp_i = pick(f['predictor/validation/gp/accuracy'][:], temps, np.ones(len(temps), bool))
        base_i = pick(f['baselines/g/validation/accuracy'][:], temps, np.ones(len(temps), bool))
        return out, (temps[gp_i], f['predictor/gp/accuracy'][gp_i]), (temps[base_i], f['baselines/g/accuracy'][base_i])

    def check_selection(self, sel_file, theory_file):
        with h5py.File(theory_file, 'r') as f:
            theory, gp, base = self.expected(f)
        with h5py.File(sel_file, 'r') as s:
            g = s['selection']
            self.assertEqual(list(g['temperatures'][:]), sorted(TEMPS))
            self.assertEqual(list(g['widths'][:]), WIDTHS)
            for w, (t, v, a) in enumerate(theory):
                self.assertEqual(g['theory/temperature'][w], t)
                self.assertEqual(g['theory/validation_accuracy'][w], v)
                self.assertEqual(g['theory/accuracy/test'][w], a)
                self.assertEqual(sorted(TEMPS)[g['theory/temperature_index'][w]], t)
            self.assertEqual(g['gp/temperature'][0], gp[0])
            self.assertEqual(g['gp/accuracy/test'][0], gp[1])
            self.assertEqual(g['baselines/g/temperature'][0], base[0])
            self.assertEqual(g['baselines/g/accuracy/test'][0], base[1])
            self.assertIn('lowest Temp', g.attrs['rule'])
        sel = files.load_selection(sel_file)
        self.assertEqual([t for t, _, _ in theory], list(sel.theory_temperature))

    def test_theory_writes_selection(self):
        self.check_selection(self.theory, self.theory)
        # The case discriminates: one width's validation accuracies tie (-> the lowest Temp), another
        # width picks the higher Temp (so "always the lowest" or "always the first" would fail).
        with h5py.File(self.theory, 'r') as f:
            val = f['predictor/validation/theory/accuracy'][:]
            picked = f['selection/theory/temperature'][:]
        self.assertTrue(any(val[0, w] == val[1, w] for w in range(len(WIDTHS))), val)
        self.assertIn(max(TEMPS), list(picked), (val, picked))
        with h5py.File(self.theory, 'r') as f:
            missing = []
            f.visititems(lambda n, o: missing.append(n) if isinstance(o, h5py.Dataset)
                         and n.startswith('selection') and 'description' not in o.attrs else None)
            self.assertEqual(missing, [])

    def test_select_merges_a_job_array(self):
        out = self.path('sel.h5')
        run(['select'] + self.parts + ['-o', out])
        with h5py.File(out, 'r') as s:
            self.assertEqual(files.text(s.attrs['format']), 'attnpaths-selection')
            self.assertIn('provenance', s)
        self.check_selection(out, self.theory)
        # Claim rules: an existing output is refused without --overwrite, replaced with it.
        p = run(['select'] + self.parts + ['-o', out], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('overwrite', p.stdout + p.stderr)
        run(['select'] + self.parts + ['-o', out, '--overwrite'])

    def test_refuses_files_that_do_not_belong_together(self):
        p = run(['select', self.theory, self.parts[0], '-o', self.path('twice.h5')], check=False)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn('temperature', p.stderr)
        other = self.path('other.h5')
        run(['data', 'markov', '-P', '24', '-Q', '16', '-T', '6', '--feature-dim', '8', '--seed', '7', '-o', other])
        t_other = self.path('theory_other.h5')
        run(['theory', '--data', other, '--widths', '10', '--temperatures', '0.1,0.2', '-o', t_other])
        with h5py.File(t_other, 'r') as f:
            self.assertNotIn('selection', f)  # no validation set: nothing to select on
        p = run(['select', t_other, '-o', self.path('noval.h5')], check=False)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn('validation', p.stderr)
        p = run(['select', self.parts[0], t_other, '-o', self.path('mixed.h5')], check=False)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn('different datasets', p.stderr)


if __name__ == '__main__':
    unittest.main()
