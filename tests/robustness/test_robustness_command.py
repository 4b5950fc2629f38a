#!/usr/bin/python3
"""`attnpaths robustness` end to end on a small Markov task: the file layout, every bound above its
measurement, the same numbers on 1 and 2 ranks, and bad inputs as input errors (exit 3)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'e2e'))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from common import run, scratch  # noqa: E402

D = scratch('robustness_command')
DATA, OTHER, THEORY = (os.path.join(D, n) for n in ('m.h5', 'other.h5', 'theory.h5'))
SMALL = ['-P', '20', '-Q', '40', '-T', '8', '--feature-dim', '10']
run(['data', 'markov', *SMALL, '-o', DATA])
run(['data', 'markov', *SMALL, '--seed', '5', '-o', OTHER])
run(['theory', '--data', DATA, '--widths', '10,100', '--temperatures', '0.1,0.2', '--alignment', '0', '-o', THEORY])
BASE = ['robustness', '--data', DATA, '--theory', THEORY, '--lipschitz-examples', '3', '--lipschitz-directions', '2']
ARGS = BASE + ['--temperature', '0.2', '--epsilons', '0,0.05,0.5', '--test-examples', '20']


def datasets(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) and
                     not n.startswith('provenance') else None)
        out['config'] = dict(f['config'].attrs)
    return out


one, two = os.path.join(D, 'r1.h5'), os.path.join(D, 'r2.h5')
run(ARGS + ['-o', one], ranks=1)
run(ARGS + ['-o', two], ranks=2)
a, b = datasets(one), datasets(two)
assert not os.path.exists(one + '.partial')
with h5py.File(one) as f:
    assert f.attrs['format'] == 'attnpaths-robustness', f.attrs['format']
    assert f['config'].attrs['temperature_resolved'] == 0.2
    assert f['data'].attrs['Q'] == 20  # every other test example: both classes, rank-count independent
ARGS_SPREAD = ARGS[:-1] + ['15']
three = os.path.join(D, 'r3.h5')
run(ARGS_SPREAD + ['-o', three], ranks=2)
with h5py.File(three) as f:
    assert f['data'].attrs['Q'] == 15
    assert 'wall_seconds' in f['provenance'].attrs or len(f['provenance'].attrs) > 3
    assert list(f['curves/widths'][()]) == [10, 100]
    assert f['curves/theory/accuracy'].shape == (2, 3, 3), f['curves/theory/accuracy'].shape
    assert f['curves/gp/accuracy'].shape == (3, 3)
    # ε = 0 is the clean predictor: every perturbation gives the same accuracy and no shift
    acc = f['curves/gp/accuracy'][()]
    assert np.all(acc[:, 0] == acc[0, 0]) and np.all(f['curves/gp/mean_shift'][:, 0] == 0)
    for fam in ('heads', 'paths'):
        w = f[f'lipschitz/{fam}/worst_ratio'][()]
        assert np.all(w <= 1) and np.all(w > 0), (fam, w)
    # the mean predictor's Lipschitz bound is Σ_π ‖u_π‖ · (path bound)_π
    pb = f['lipschitz/paths/bound'][()]
    assert f['curves/theory/path_weight_norm'].shape == (2, len(pb))
    assert np.isclose(f['curves/gp/lipschitz_bound'][()], f['curves/gp/path_weight_norm'][()] @ pb, rtol=1e-12)
    assert np.allclose(f['curves/theory/lipschitz_bound'][()], f['curves/theory/path_weight_norm'][()] @ pb)
    hb = f['lipschitz/heads/bound_frobenius'][()]
    assert np.all(f['lipschitz/heads/adversarial_frobenius'][()] <= hb)
assert a.keys() == b.keys()
for k in a:
    if k == 'config':
        continue
    assert np.allclose(a[k], b[k], rtol=1e-9, atol=1e-12), (k, a[k], b[k])
print('rank invariance: ok', len(a), 'datasets')

# Bad inputs: exit code 3 (InputError) with a message naming the problem.
for extra, words in ((['--epsilons', '-0.1'], 'epsilons'), (['--perturbations', ''], 'perturbations'),
                     (['--epsilons', '2', '--perturbations', 'replace'], 'fraction'),
                     (['--temperature', '0.3'], 'temperature'), (['--widths', '30'], 'widths')):
    p = run(BASE + extra + ['-o', os.path.join(D, 'bad.h5')], check=False)
    assert p.returncode == 3, (extra, p.returncode, p.stderr)
    assert words in p.stderr, (extra, p.stderr)
p = run(['robustness', '--data', OTHER, '--theory', THEORY, '-o', os.path.join(D, 'bad.h5')], check=False)
assert p.returncode == 3 and 'different dataset' in p.stderr, (p.returncode, p.stderr)
assert not os.path.exists(os.path.join(D, 'bad.h5'))
# A complete result is never replaced without --overwrite; an input is never the output.
p = run(ARGS_SPREAD + ['-o', three], check=False)
assert p.returncode == 3 and 'already exists' in p.stderr, (p.returncode, p.stderr)
p = run(ARGS_SPREAD + ['-o', THEORY, '--overwrite'], check=False)
assert p.returncode == 3 and 'is the input' in p.stderr, (p.returncode, p.stderr)
print('bad inputs: ok')

# The report's robustness section: analysis/report.py with --robustness draws both figures and
# tables whose numbers are those of the file.
import shutil  # noqa: E402
import subprocess  # noqa: E402

res = os.path.join(D, 'results')
os.makedirs(os.path.join(res, 'theory'))
shutil.copy(THEORY, os.path.join(res, 'theory', 'markov4.h5'))
src = os.environ.get('ATTNPATHS_SOURCE_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
out = os.path.join(D, 'report')
p = subprocess.run(['/usr/bin/python3', os.path.join(src, 'analysis', 'report.py'), res, '-o', out,
                    '--robustness', one], capture_output=True, text=True)
assert p.returncode == 0, p.stdout + p.stderr
text = open(os.path.join(out, 'report.md')).read()
assert '## Robustness to perturbed inputs' in text
for stem in ('robustness_bounds', 'robustness_accuracy'):
    assert os.path.getsize(os.path.join(out, stem + '.png')) > 1000, stem
with h5py.File(one) as f:
    acc = f['curves/theory/accuracy'][1, 2, 1]  # N = 100, adversarial, ε = 0.05
    bound = f['lipschitz/paths/bound'][0]
assert f'{acc:.4g}' in text and f'{bound:.4g}' in text, 'report numbers differ from the file'
print('report section: ok')
