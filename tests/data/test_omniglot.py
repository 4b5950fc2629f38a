"""`attnpaths data omniglot` against an independent Python computation (Pillow + numpy).

* Every image of the training bank, and the three images of sampled episodes of every set, are
  rebuilt from their recorded source (zip member or IDX index) with zipfile/gzip + Pillow
  (Image.resize((32, 32), BILINEAR) on the inverted 8-bit image) and must be IDENTICAL to ours.
* The tokens x are recomputed with numpy (normalise, 3 channels, 8x8 patches with interleaved
  channels, LayerNorm, z-scored sinusoidal positions, label vectors) and must agree to round-off.
* Splits, balance, labels/targets consistency, query != support, determinism, the same content on
  1 and 2 ranks, and clean InputErrors (exit 3) for bad inputs.
"""
import gzip
import io
import os
import shutil
import sys
import zipfile

import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'e2e'))
from common import run, scratch  # noqa: E402

SRC = os.environ.get('ATTNPATHS_SOURCE_DIR', os.getcwd())
OMNI = os.path.join(SRC, 'data', 'omniglot')
MNIST = os.path.join(SRC, 'data', 'mnist')
BILINEAR = Image.BILINEAR if hasattr(Image, 'BILINEAR') else Image.Resampling.BILINEAR
SMALL = ['-P', '40', '--validation-examples', '20', '-Q', '40', '--ood-examples', '40']
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print('FAIL:', msg)


# ------------------------------------------------------------------------------- reference pipeline
_zips, _idx = {}, {}


def source_image(source):
    """The 32x32 uint8 image of a recorded source, computed with Pillow (ink = 255)."""
    if '#' in source:  # IDX: "<file>#<index>"
        name, index = source.split('#')
        if name not in _idx:
            raw = gzip.open(os.path.join(MNIST, name)).read()
            n, rows, cols = np.frombuffer(raw[4:16], '>u4')
            _idx[name] = np.frombuffer(raw[16:], np.uint8).reshape(n, rows, cols)
        img = Image.fromarray(_idx[name][int(index)], 'L')
    else:  # zip: "<zip>:<member>"
        name, member = source.split(':', 1)
        if name not in _zips:
            _zips[name] = zipfile.ZipFile(os.path.join(OMNI, name))
        png = Image.open(io.BytesIO(_zips[name].read(member)))
        assert png.mode == '1' and png.size == (105, 105), (source, png.mode, png.size)
        grey = np.asarray(png.convert('L'), dtype=np.uint8)  # 0 / 255, 255 = white background
        img = Image.fromarray(255 - grey, 'L')               # ink = 255
    return np.asarray(img.resize((32, 32), BILINEAR), dtype=np.uint8)


def tokens(img32, mean, std):
    """[16, 192]: normalise, 3 channels, 8x8 patches (index (p1*8+p2)*3+c), LayerNorm."""
    v = (img32.astype(np.float64) / 255.0 - mean) / std
    patches = v.reshape(4, 8, 4, 8).transpose(0, 2, 1, 3).reshape(16, 64)
    t = np.repeat(patches, 3, axis=1)
    mu = t.mean(axis=1, keepdims=True)
    var = ((t - mu) ** 2).mean(axis=1, keepdims=True)
    return (t - mu) / np.sqrt(var + 1e-5)


def positional():
    p = np.arange(48)[:, None]
    i = np.arange(96)[None, :]
    angle = p * 10000.0 ** (-2.0 * i / 192)
    pe = np.zeros((48, 192))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return (pe - pe.mean()) / (pe.std(ddof=1) + 1e-6)


def s(b):
    return b.decode() if isinstance(b, bytes) else b


# ------------------------------------------------------------------------------------------ helpers
def class_of(source, runs_class):
    """Class of an image: <alphabet>/<character> for the background zips, the run class otherwise."""
    name, member = source.split(':', 1)
    if name == 'all_runs.zip':
        return runs_class[member]
    parts = member.split('/')
    return parts[1] + '/' + parts[2]


def runs_classes():
    z = zipfile.ZipFile(os.path.join(OMNI, 'all_runs.zip'))
    out = {}
    for m in z.namelist():
        if m.endswith('class_labels.txt'):
            for line in z.read(m).decode().split('\n'):
                if line.strip():
                    test, train = line.split()
                    out[test] = out[train] = train
    return out


def content(path):
    """Every dataset and attribute except /provenance and the output path."""
    out = {}
    with h5py.File(path) as f:
        def visit(name, obj):
            if name.startswith('provenance'):
                return
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                if not (name == 'config' and k == 'output'):
                    out[name + '@' + k] = v
        f.visititems(visit)
        for k, v in f.attrs.items():
            out['@' + k] = v
    return out


def same(a, b):
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


# ------------------------------------------------------------------------------------------- checks
def check_file(path, runs_class):
    worst = 0.0
    with h5py.File(path) as f:
        check(f.attrs['task'] == 'omniglot', 'task attribute')
        bank = f['bank/train']
        images, labels = bank['images'][()], bank['label'][()]
        sources = [s(x) for x in bank['source'][()]]
        check(images.shape == (4400, 32, 32) and bank.attrs['classes'] == 220,
              f'training bank: {images.shape}, {bank.attrs["classes"]} classes (expected 4400 images, 220 classes)')
        check(not any('Early_Aramaic' in x for x in sources), 'Early_Aramaic is not a training class')
        check(len(set(x.split(':', 1)[1].split('/', 1)[1] for x in sources)) == 4400, 'Greek/Latin deduplicated')
        ref = np.stack([source_image(x) for x in sources])
        diff = np.abs(ref.astype(int) - images.astype(int))
        check(diff.max() == 0, f'bank images differ from Pillow: max {diff.max()} in {np.count_nonzero(diff)} pixels')
        print(f'bank: {len(sources)} images identical to Pillow: {diff.max() == 0}')
        per_class = np.bincount(labels)
        check(len(per_class) == 220 and per_class.min() == 20, 'bank labels: 220 classes of 20 drawings')

        pe = positional()
        check(np.abs(f['embedding/positional'][()] - pe).max() < 1e-12, 'positional code')
        emb = f['embedding/label'][()]
        check(emb.shape == (3, 192) and abs(emb.mean()) < 0.2 and 0.8 < emb.std() < 1.2, 'label vectors ~ N(0, 1)')
        for name in ('train', 'validation', 'test', 'ood/mnist'):
            x, y = f[name + '/x'][()], f[name + '/y'][()]
            src = [[s(v) for v in row] for row in f['episodes/' + name + '/sources'][()]]
            lab = f['episodes/' + name + '/labels'][()]
            n = len(y)
            check(y.sum() == 0 and set(y) == {-1.0, 1.0}, f'{name}: balanced')
            check(x.shape == (n, 48, 192) and lab.shape == (n, 2), f'{name}: shapes')
            mean, std = (0.1307, 0.3081) if name.startswith('ood') else (0.922, 0.084)
            for i in range(n):
                a, b, q = src[i]
                check(q not in (a, b), f'{name} {i}: the query is a support')
                if name.startswith('ood'):
                    check(list(lab[i]) == [0, 1], f'{name} {i}: fixed order [label 0, label 1, query]')
                    continue
                ca, cb, cq = (class_of(v, runs_class) for v in (a, b, q))
                check(ca != cb and cq in (ca, cb), f'{name} {i}: classes {ca} {cb} {cq}')
                check(sorted(lab[i]) == [0, 1], f'{name} {i}: labels {lab[i]}')
                label_of_query = lab[i][0] if cq == ca else lab[i][1]
                check(y[i] == (1.0 if label_of_query == 1 else -1.0), f'{name} {i}: y = {y[i]} inconsistent')
                if name == 'validation':
                    check(all('Early_Aramaic' in v for v in src[i]), f'{name} {i}: validation = Early_Aramaic')
                if name == 'test':
                    check(all(v.startswith('all_runs.zip:') for v in src[i]), f'{name} {i}: test = all_runs')
            for i in list(range(min(n, 6))) + [n - 1]:  # tokens of a few episodes, rebuilt from their sources
                lab3 = [lab[i][0], lab[i][1], 2]
                ref_x = np.concatenate([tokens(source_image(v), mean, std) + emb[l] for v, l in zip(src[i], lab3)]) + pe
                worst = max(worst, np.abs(ref_x - x[i]).max())
            if name.startswith('ood'):
                imgs = f['episodes/ood/mnist/sources'][()]
                raw = gzip.open(os.path.join(MNIST, 't10k-labels-idx1-ubyte.gz')).read()[8:]
                digit = lambda v: raw[int(s(v).split('#')[1])]  # noqa: E731
                for i in range(n):
                    check(digit(imgs[i][0]) == 0 and digit(imgs[i][1]) == 1, f'ood {i}: supports are a 0 and a 1')
                    check(digit(imgs[i][2]) == (1 if y[i] > 0 else 0), f'ood {i}: y matches the query digit')
    print(f'tokens: max |x - x_reference| = {worst:.3e}')
    check(worst < 1e-9, f'tokens differ from the reference by {worst}')


def make_zip(path, members):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def png(size, mode):
    img = Image.new(mode, (size, size), 255 if mode == 'L' else 1)
    buf = io.BytesIO()
    img.save(buf, 'PNG')
    return buf.getvalue()


def tiny_background(path):
    """3 Greek + 2 Early_Aramaic characters, 3 drawings each, from the real small1 zip."""
    z = zipfile.ZipFile(os.path.join(OMNI, 'images_background_small1.zip'))
    members = {}
    for alphabet, chars in (('Greek', 3), ('Early_Aramaic', 2)):
        for c in range(1, chars + 1):
            prefix = f'images_background_small1/{alphabet}/character{c:02d}/'
            for m in sorted(n for n in z.namelist() if n.startswith(prefix) and n.endswith('.png'))[:3]:
                members['tiny/' + m.split('/', 1)[1]] = z.read(m)
    make_zip(path, members)


def bad_inputs(d):
    tiny = os.path.join(d, 'tiny.zip')
    tiny_background(tiny)
    fast = {'--background': tiny, '-P': '4', '--validation-examples': '2', '-Q': '4', '--ood-examples': '0'}
    trunc = os.path.join(d, 'truncated.zip')
    with open(trunc, 'wb') as out:
        out.write(open(os.path.join(OMNI, 'all_runs.zip'), 'rb').read()[:200000])
    # A member whose stored bytes were altered: CRC mismatch on reading.
    crc = os.path.join(d, 'crc.zip')
    shutil.copy(tiny, crc)
    with zipfile.ZipFile(crc) as z:
        info = z.infolist()[0]
    blob = bytearray(open(crc, 'rb').read())
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 40
    blob[offset] ^= 0xFF
    open(crc, 'wb').write(bytes(blob))
    def layout(p, img):
        make_zip(p, {f'top/Alpha/character{c}/{k}.png': img for c in (1, 2) for k in (1, 2)})
    size, depth = os.path.join(d, 'size.zip'), os.path.join(d, 'depth.zip')
    layout(size, png(64, '1'))
    layout(depth, png(105, 'L'))
    one = os.path.join(d, 'one_class.zip')
    make_zip(one, {f'top/Alpha/character1/{k}.png': png(105, '1') for k in (1, 2)})
    idx_trunc = os.path.join(d, 'trunc-images.gz')
    open(idx_trunc, 'wb').write(open(os.path.join(MNIST, 't10k-images-idx3-ubyte.gz'), 'rb').read()[:100000])
    labels = os.path.join(MNIST, 't10k-labels-idx1-ubyte.gz')
    mnist = ['--ood-examples', '4']  # options given here replace those of `fast`
    cases = [
        ('missing zip', ['--evaluation', os.path.join(d, 'missing.zip')], 'cannot open zip archive'),
        ('truncated zip', ['--evaluation', trunc], 'cannot open zip archive'),
        ('CRC error', ['--background', crc], 'is corrupt'),
        ('wrong image size', ['--evaluation', size], 'PNG is 64×64'),
        ('wrong bit depth', ['--evaluation', depth], 'bit depth 8'),
        ('too few classes', ['--evaluation', one], 'at least 2 classes'),
        ('unknown alphabet', ['--validation-alphabets', 'Klingon'], "'Klingon', which is not an alphabet"),
        ('odd count', ['-P', '5'], 'must be an even number'),
        ('truncated IDX', mnist + ['--ood-images', idx_trunc], 'is corrupt'),
        ('missing IDX', mnist + ['--ood-labels', os.path.join(d, 'missing.gz')], 'cannot open IDX file'),
        ('labels as images', mnist + ['--ood-images', labels], 'not an IDX image file'),
        ('too many OOD episodes', ['--ood-examples', '2000'], 'needs at least 1000 images of each class'),
    ]
    for what, args, message in cases:
        out = os.path.join(d, 'bad.h5')
        options = dict(fast)
        options.update(zip(args[0::2], args[1::2]))
        p = run(['data', 'omniglot'] + [v for kv in options.items() for v in kv] + ['-o', out], check=False)
        text = p.stdout + p.stderr
        ok = p.returncode == 3 and message in text and not os.path.exists(out) and not os.path.exists(out + '.partial')
        check(ok, f'{what}: exit {p.returncode}, expected 3 with "{message}":\n{text[-600:]}')
        print(f'bad input, {what}: exit {p.returncode}')


def help_and_usage():
    text = run(['data', 'omniglot', '--help']).stdout
    for option in ('-o,--output', '--background TEXT=[', 'images_background_small1.zip', '--evaluation TEXT=[',
                   'all_runs.zip', '--validation-alphabets TEXT=[Early_Aramaic]', 't10k-images-idx3-ubyte.gz',
                   't10k-labels-idx1-ubyte.gz', '--ood-name TEXT=mnist', '--ood-classes INT=[0,1]',
                   '--train-examples INT=600', '--validation-examples INT=1000', '--test-examples INT=1000',
                   '--ood-examples INT=1000', '--normalisation FLOAT=[0.922,0.084]',
                   '--ood-normalisation FLOAT=[0.1307,0.3081]', '--seed INT=1', '--embedding-seed INT=1',
                   '--attention-seed INT=1', '--heads INT=[4,4]', '--qk-dim INT=128'):
        check(option in text, f'--help lacks "{option}"')
    check(os.path.join(SRC, 'data', 'omniglot') in text, '--help defaults point at the source tree data/')
    check(run(['data', 'omniglot'], check=False).returncode == 2, 'missing -o is a usage error (exit 2)')


def main():
    d = scratch('data_omniglot')
    help_and_usage()
    runs_class = runs_classes()
    one, two, again = (os.path.join(d, n) for n in ('np1.h5', 'np2.h5', 'again.h5'))
    p = run(['data', 'omniglot'] + SMALL + ['-o', one])
    check('wrote dataset file' in p.stdout, 'log')
    run(['data', 'omniglot'] + SMALL + ['-o', two], ranks=2)
    run(['data', 'omniglot'] + SMALL + ['-o', again])
    c1 = content(one)
    check(same(c1, content(two)), 'the file content differs between 1 and 2 ranks')
    check(same(c1, content(again)), 'the file content differs between two runs')
    check_file(one, runs_class)
    bad_inputs(d)
    if failures:
        print(f'{len(failures)} failure(s)')
        sys.exit(1)
    print('ok')


if __name__ == '__main__':
    main()
