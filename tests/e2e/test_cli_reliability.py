"""Nothing silent, nothing lost (issue 8): the command line, options files, outputs and exit codes of the
real `attnpaths` binary. Usage: test_cli_reliability.py GROUP... (default: every group).

  help_without_mpi  --help/--version answer without starting MPI or PETSc (item 18)
  output_claim      -o equal to an input, complete outputs, --resume of a finished file, flock (items 4, 5)
  options_file      one project file with a table per subcommand, unknown keys, garbage (item 8)
  exit_codes        exit codes and messages of bad input and bad options (item 10)
  resume_shortened  sample --resume refuses a shortened /samples (item 11)
  data_checksum     the data checksum is of the content, not of the file bytes (item 12)
"""
import fcntl
import hashlib
import os
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
from common import clean_env, run, scratch  # noqa: E402

BIN = common.BIN = os.path.abspath(common.BIN)  # output_claim runs from the scratch directory

# One scratch directory per invocation: ctest runs the groups in parallel (scratch() empties it).
D = scratch('cli_reliability_' + '_'.join(sys.argv[1:] or ['all']))
SMALL = ['-P', '20', '-Q', '20', '-T', '4', '--feature-dim', '6']


def path(name):
    return os.path.join(D, name)


def expect(args, code, text=None, ranks=None, env=None):
    """Runs attnpaths ARGS and checks the exit code and that `text` is in the output."""
    if env is None:
        p = run(args, ranks=ranks, check=False)
    else:
        p = subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == code, f'attnpaths {" ".join(args)}: exit {p.returncode}, expected {code}\n{out[-2000:]}'
    if text is not None:
        assert text in out, f'attnpaths {" ".join(args)}: {text!r} not in the output\n{out[-2000:]}'
    return out


def digest(name):
    with open(name, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def small_data(name, ranks=None, extra=()):
    if not os.path.exists(path(name)):
        run(['data', 'markov', *SMALL, *extra, '-o', path(name)], ranks=ranks)
    return path(name)


def theory_args(data, out, *extra):
    return ['theory', '--data', data, '--widths', '5', '--temperatures', '0.01', '-o', out, *extra]


def sample_args(data, out, *extra):
    return ['sample', '--data', data, '--width', '5', '--temperature', '0.01', '--draws', '20', '--warmup', '20',
            '--checkpoint-every', '10', '-q', '-o', out, *extra]


def help_without_mpi():
    env = clean_env()
    env['OMPI_MCA_pml'] = 'no-such-component'  # MPI_Init fails: only a command that never starts MPI answers
    for args in (['--help'], ['--version'], ['theory', '--help'], ['data', 'markov', '--help']):
        start = time.time()
        out = expect(args, 0, env=env)
        assert out.strip(), args
        print(f'attnpaths {" ".join(args)}: {1000 * (time.time() - start):.0f} ms without MPI')
    expect(['theory', '--no-such-option'], 2, 'no-such-option', env=env)  # usage errors too


def output_claim():
    data = small_data('in.h5')
    before = digest(data)
    os.symlink(data, path('link.h5'))
    here = os.getcwd()
    os.chdir(D)
    try:
        expect(theory_args('in.h5', './in.h5'), 3, 'is the input')
        expect(theory_args(path('link.h5'), 'in.h5'), 3, 'is the input')
        expect(theory_args('in.h5', 't.h5', '--gp-baseline', 'g=./in.h5'), 0)
        expect(theory_args('in.h5', 'x.h5', '--gp-baseline', 'g=x.h5'), 3, 'is the input')
        expect(sample_args('./in.h5', 'in.h5'), 3, 'is the input')
        expect(['compare', '--theory', 't.h5', '--samples', 't.h5', '-o', './t.h5'], 3, 'is the input')
    finally:
        os.chdir(here)
    assert digest(data) == before, 'an input was modified'
    # A complete output is kept unless --overwrite; --resume never replaces a finished file.
    t = path('t.h5')
    done = digest(t)
    expect(theory_args(data, t), 3, 'already exists: give --overwrite')
    expect(theory_args(data, t, '--resume'), 3, 'already complete')
    expect(['data', 'markov', *SMALL, '-o', data], 3, 'already exists')
    assert digest(t) == done and digest(data) == before
    expect(theory_args(data, t, '--overwrite', '--temperatures', '0.1'), 0)  # temperatures 0.01, 0.1
    with h5py.File(t) as f:
        assert np.allclose(f['theory/temperatures'][...], [0.01, 0.1])
    expect(['data', 'markov', *SMALL, '-o', data, '--overwrite'], 0)
    # A second writer of the same output fails at once while the first holds FILE.partial.
    out = path('busy.h5')
    with open(out + '.partial', 'w') as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = time.time()
        expect(theory_args(data, out), 3, 'another run is writing')
        expect(['data', 'markov', *SMALL, '-o', out], 3, 'another run is writing', ranks=2)
        assert time.time() - start < 60
    assert not os.path.exists(out)


def options_file():
    project = path('project.toml')
    with open(project, 'w') as f:
        f.write('# one file for the whole project\n[data.markov]\ntrain-examples = 20\ntest-examples = 20\n'
                'tokens = 4\nfeature-dim = 6\n\n[theory]\nwidths = [5, 7]\ntemperatures = 0.01\n'
                'max-iterations = 300\n\n[sample]\nwidth = 5\ntemperature = 0.01\ndraws = 10\n')
    data = path('project_data.h5')
    expect(['--config', project, 'data', 'markov', '-o', data], 0)
    with h5py.File(data) as f:
        assert f['train/x'].shape == (20, 5, 11), f['train/x'].shape
    t = path('project_theory.h5')
    expect(['theory', '--config', project, '--data', data, '-o', t], 0)  # --config after the subcommand
    with h5py.File(t) as f:
        assert list(f['theory/widths'][...]) == [5, 7]
        assert f['config'].attrs['max_iterations'] == 300
    t2 = path('project_theory2.h5')
    expect(['theory', '--data', data, '-o', t2, '--widths', '9', '--config', project], 0)  # the command line wins
    with h5py.File(t2) as f:
        assert list(f['theory/widths'][...]) == [9]
    bad = {'misspelt.toml': ('[theory]\nmax_iteration = 2\n', "unknown key 'max_iteration' in [theory]"),
           'misspelt_other.toml': ('[theory]\nwidths = 5\n[sample]\ntemprature = 1\n', "unknown key 'temprature'"),
           'table.toml': ('[theroy]\nwidths = 5\n', '[theroy] is not a subcommand'),
           'garbage.toml': ('this is not toml at all\n%%%\n', 'outside a table'),
           'binary.toml': (bytes(range(256)) * 4, 'not a text (TOML) file')}
    for name, (content, message) in bad.items():
        with open(path(name), 'wb') as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        expect(['theory', '--config', path(name), '--data', data, '-o', path('never.h5'), '--widths', '5',
                '--temperatures', '0.01'], 2, message)
    expect(['--config', path('missing.toml'), 'theory'], 2, 'cannot read the options file')
    assert not os.path.exists(path('never.h5'))


def modified(name, change):
    out = path(name)
    if not os.path.exists(out):
        with h5py.File(small_data('in2.h5')) as src, h5py.File(out, 'w') as dst:
            for k in src:
                src.copy(k, dst)
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            change(dst)
    return out


def exit_codes():
    def huge(f):
        x = f['train/x'][...] * 1e300
        del f['train/x']
        f['train/x'] = x

    def dangling(f):
        del f['train/x']
        f['train/x'] = h5py.SoftLink('/nowhere')

    def group(f):
        del f['train/x']
        f.create_group('train/x')

    for name, change, text in (('huge.h5', huge, 'too large in magnitude'), ('dangling.h5', dangling, 'dangling link'),
                               ('group.h5', group, 'is a group, expected a dataset')):
        data = modified(name, change)
        expect(theory_args(data, path('t_' + name)), 3, text)
        expect(sample_args(data, path('s_' + name)), 3, text)
    data = small_data('in2.h5')
    expect(theory_args(data, path('dup.h5'), '--gp-baseline', f'g={data}', '--gp-baseline', f'g={data}'), 3,
           "NAME 'g' is given twice")
    assert not os.path.exists(path('dup.h5')) and not os.path.exists(path('dup.h5.partial'))
    # A missing input file is a usage error (2) in every command.
    expect(theory_args(path('nope.h5'), path('x.h5')), 2, 'nope.h5')
    expect(sample_args(path('nope.h5'), path('x.h5')), 2, 'nope.h5')
    expect(['compare', '--theory', path('nope.h5'), '--samples', data], 2, 'nope.h5')
    expect(['theory', '--data', data, '--widths', '99999999999999999999', '--temperatures', '0.01', '-o',
            path('x.h5')], 2, 'out of range')
    expect(sample_args(data, path('x.h5'), '--seed', '-1'), 2, "'-1' is not a whole number")
    expect(['data', 'markov', '--seed', '-1', '-o', path('x.h5')], 2, "'-1' is not a whole number")
    expect(['foo'], 2, "unknown subcommand 'foo'")
    expect(['data', 'mrkov'], 2, "unknown subcommand 'mrkov'")
    # -T is the number of tokens (data); the temperature of sample is --temperature only.
    expect(['sample', '--data', data, '--width', '5', '-T', '0.01', '-o', path('x.h5')], 2, '-T')
    # Plain `attnpaths sample` on one rank: one chain per rank by default.
    expect(sample_args(data, path('one.h5')), 0)
    with h5py.File(path('one.h5')) as f:
        assert f['samples/U1'].shape[0] == 1
    expect(sample_args(data, path('two.h5')), 0, ranks=2)
    with h5py.File(path('two.h5')) as f:
        assert f['samples/U1'].shape[0] == 2
    # Ranks started with different arguments (a wrapper varying -o per rank): a usage error on every
    # rank, not a hang.
    wrapper = path('per_rank.sh')
    with open(wrapper, 'w') as w:
        w.write(f'#!/bin/sh\nexec {BIN} "$@" -o {path("rank")}_$OMPI_COMM_WORLD_RANK.h5\n')
    os.chmod(wrapper, 0o755)
    p = subprocess.run(['mpirun', '-np', '2', wrapper, 'theory', '--data', data, '--widths', '5', '--temperatures',
                        '0.01'], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert p.returncode == 2 and 'different arguments' in p.stderr, (p.returncode, p.stderr[-2000:])
    # A singleton (no launcher) keeps Open MPI's session files in its own directory under $TMPDIR
    # (isolated singletons otherwise share one, which the first to finish removes under the others) and
    # removes it at the end, after success and after an error.
    tmp = path('tmpdir')
    os.makedirs(tmp, exist_ok=True)
    env = dict(clean_env(), TMPDIR=tmp)
    proc = subprocess.Popen([BIN, 'data', 'markov', '-P', '20000', '-T', '6', '--feature-dim', '8', '-o',
                             path('private.h5'), '--overwrite'], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    seen = set()
    while proc.poll() is None:
        seen.update(n for n in os.listdir(tmp) if n.startswith('attnpaths-mpi-'))
        time.sleep(0.005)
    assert proc.returncode == 0 and seen, (proc.returncode, seen)
    assert os.listdir(tmp) == [], os.listdir(tmp)
    expect(theory_args(path('private.h5'), path('private.h5')), 3, env=env)  # an input as the output
    assert os.listdir(tmp) == [], os.listdir(tmp)
    # Out of memory: exit code 7 and the size that was asked for (one 41 GiB generation block under a
    # 1.5 GB address-space limit; the sparse .partial it leaves is removed).
    p = subprocess.run(['bash', '-c', f'ulimit -v 1500000; exec {BIN} data markov -P 2 -Q 100000000 -T 4 '
                        f'--feature-dim 6 --block-size 100000 -o {path("oom.h5")}'], capture_output=True, text=True,
                       env=clean_env(), timeout=300)
    for leftover in (path('oom.h5'), path('oom.h5.partial')):
        if os.path.exists(leftover):
            os.remove(leftover)
    assert p.returncode == 7 and 'out of memory' in p.stderr and 'bytes' in p.stderr, (p.returncode, p.stderr)


def resume_shortened():
    data = small_data('in3.h5')
    out = path('short.h5')
    expect(sample_args(data, out, '--chains', '1', '--interrupt-after', '30'), 75)
    with h5py.File(out + '.partial', 'r+') as f:
        assert f['samples/U1'].shape[1] == 10
        f['samples/U1'].resize(5, axis=1)
    expect(sample_args(data, out, '--chains', '1', '--resume'), 3, 'shortened')


def data_checksum():
    a = small_data('sum_a.h5')
    b = small_data('sum_b.h5', ranks=2)  # the same data, written by 2 ranks: other bytes
    assert digest(a) != digest(b)
    for name, data in (('a', a), ('b', b)):
        expect(theory_args(data, path(f'sum_t{name}.h5'), '--gp-only'), 0)
    with h5py.File(path('sum_ta.h5')) as fa, h5py.File(path('sum_tb.h5')) as fb:
        assert fa['data'].attrs['checksum'] == fb['data'].attrs['checksum']
        assert fa['data'].attrs['checksum'].startswith('xxh64-content-v2:')
    c = small_data('sum_c.h5', extra=['--seed', '2'])
    expect(theory_args(c, path('sum_tc.h5'), '--gp-only'), 0)
    with h5py.File(path('sum_ta.h5')) as fa, h5py.File(path('sum_tc.h5')) as fc:
        assert fa['data'].attrs['checksum'] != fc['data'].attrs['checksum']
    # The dataset regenerated between an interrupted run and its resume is accepted.
    out = path('sum_s.h5')
    expect(sample_args(a, out, '--chains', '1', '--interrupt-after', '30'), 75)
    os.remove(a)
    small_data('sum_a.h5')
    expect(sample_args(a, out, '--chains', '1', '--resume'), 0)


GROUPS = {f.__name__: f for f in (help_without_mpi, output_claim, options_file, exit_codes, resume_shortened,
                                  data_checksum)}

if __name__ == '__main__':
    for name in sys.argv[1:] or GROUPS:
        GROUPS[name]()
        print(f'ok {name}')
