"""Loading attnpaths HDF5 results (docs/files.md §2, §3) into plain numpy objects.

A results directory (docs/jobs.md) holds
    theory/<name>.h5             one theory file over a width x temperature grid, or
    theory/<name>/N<w>_T<t>.h5   one file per grid cell (job array), merged here into one grid;
    samples/<name>_N<w>.h5       posterior samples of experiment <name> at width w;
    compare/<name>*.h5           optional `attnpaths compare` output.
Nothing here plots or formats: figures.py and report.py do.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import files
from .files import GP_KEYS, THEORY_KEYS, attrs, read, same_temperature, temperature_index, text  # noqa: F401


# The low-level readers and the temperature rule live in files.py (the one reader of the formats).
_text = text


@dataclass
class RunRecord:
    """What a file says about how it was made: /config, /provenance, /provenance/timing."""
    path: str
    format: str
    config: dict
    provenance: dict
    timing: list  # [(stage, seconds, calls)]

    @staticmethod
    def load(f, path):
        cfg = attrs(f[files.CONFIG]) if files.CONFIG in f else {}
        prov = attrs(f[files.PROVENANCE]) if files.PROVENANCE in f else {}
        timing = []
        if files.TIMING in f:
            t = attrs(f[files.TIMING])
            stages, secs, calls = t.get("stage", []), t.get("seconds", []), t.get("calls", [])
            if isinstance(stages, str):
                stages, secs, calls = [stages], [secs], [calls]
            timing = list(zip(stages, secs, calls))
        return RunRecord(path, str(_text(f.attrs.get("format", ""))), cfg, prov, timing)


@dataclass
class Theory:
    """One experiment's theory results on a (temperature, width) grid: arrays are [nT, nW, ...]."""
    name: str
    source: str                  # the file, or the directory of per-cell files
    files: list                  # RunRecord of every file read
    widths: np.ndarray           # [nW] int
    temperatures: np.ndarray     # [nT]
    data_attrs: dict
    path_labels: list
    full: bool                   # False for --gp-only runs (no /theory, /predictor/theory*)
    theory: dict = field(default_factory=dict)     # name -> [nT, nW, ...]  (/theory/*, /predictor/theory*/…)
    gp: dict = field(default_factory=dict)         # name -> [nT, ...]      (/predictor/gp/…)
    alignment_gp: np.ndarray | None = None         # [nT, k]
    alignment_theory: np.ndarray | None = None     # [nT, nW, k]
    kernels: dict = field(default_factory=dict)    # subset, labels, path, gp, renormalized
    cells: dict = field(default_factory=dict)      # (iT, iW) -> file path the value came from
    group: str = ""                                # "/baselines/<name>" for a GP baseline stored in another file

    @property
    def h_tot(self):
        return len(self.path_labels)

    @property
    def task(self):
        """The dataset's `task` attribute (e.g. "markov"); "" when the file does not say."""
        return str(self.data_attrs.get("task", "") or "")

    @property
    def gp_u1(self):
        """The GP value of the diagonal of U_1, σa²·σ1²⋯σL² (docs/model.md §3.5), from the `variances`
        option (σ0², σ1², …, σL², σa²) recorded in /config; 1 with the default unit variances."""
        for rec in self.files:
            for key in ("variances_resolved", "variances"):
                v = rec.config.get(key)
                if v is not None and not isinstance(v, str) and np.size(v) >= 3:
                    return float(np.prod(np.atleast_1d(np.asarray(v, float))[1:]))
        return 1.0

    def is_task(self, task, labels):
        """True when the dataset is `task` with exactly these path labels (the paper's claims apply)."""
        return self.task == task and list(self.path_labels) == list(labels)

    def cell_file(self, it, iw):
        return self.cells.get((it, iw), self.source)


def _path_labels(data_attrs, h_tot_guess=None):
    labels = data_attrs.get("path_labels")
    if isinstance(labels, str):
        labels = [labels]
    h = data_attrs.get("H_tot", h_tot_guess)
    if labels and (h is None or len(labels) == int(h)):
        return [str(x) for x in labels]
    n = int(h) if h is not None else 0
    return [f"path {i}" for i in range(n)]


def _load_theory_file(path, name):
    with h5py.File(path, "r") as f:
        rec = RunRecord.load(f, path)
        data_attrs = attrs(f[files.DATA]) if files.DATA in f else {}
        full = files.THEORY_GRID["U1"] in f
        widths = read(f, files.THEORY_GRID["widths"])
        temps = read(f, files.THEORY_GRID["temperatures"])
        if widths is None:  # --gp-only: the grid is in /config
            w = rec.config.get("widths", [])
            widths = np.atleast_1d(np.asarray(w if w != [] else [], dtype=np.int64))
        if temps is None:
            temps = np.atleast_1d(np.asarray(rec.config.get("temperatures", np.nan), dtype=float))
        th = {}
        if full:
            for key, p in THEORY_KEYS.items():
                v = read(f, p)
                if v is not None:
                    th[key] = np.asarray(v)
        gp = {k: read(f, p) for k, p in GP_KEYS.items() if p in f}
        kern = {}
        for k, p in files.KERNEL_KEYS.items():
            v = read(f, p)
            if v is not None:
                kern[k] = v
        alignment_gp = read(f, files.ALIGNMENT_KEYS["gp"])
        alignment_theory = read(f, files.ALIGNMENT_KEYS["theory"])
        h_guess = th["U1"].shape[-1] if "U1" in th else None
        labels = _path_labels(data_attrs, h_guess)
    t = Theory(name=name, source=path, files=[rec], widths=np.atleast_1d(widths).astype(np.int64),
               temperatures=np.atleast_1d(temps).astype(float), data_attrs=data_attrs, path_labels=labels,
               full=full, theory=th, gp=gp, alignment_gp=alignment_gp, alignment_theory=alignment_theory, kernels=kern)
    for it in range(len(t.temperatures)):
        for iw in range(len(t.widths)):
            t.cells[(it, iw)] = path
    return t


def _merge_cells(parts, name, source):
    """Merges per-cell theory files (each one width, one temperature) into one grid; missing cells are NaN."""
    widths = np.array(sorted({int(w) for p in parts for w in p.widths}), dtype=np.int64)
    temps = []
    for x in sorted(float(x) for p in parts for x in p.temperatures):
        if temperature_index(temps, x) is None:   # one grid temperature per same_temperature class
            temps.append(x)
    temps = np.array(temps, dtype=float)
    nT, nW = len(temps), len(widths)
    first = parts[0]
    m = Theory(name=name, source=source, files=[r for p in parts for r in p.files], widths=widths,
               temperatures=temps, data_attrs=first.data_attrs, path_labels=first.path_labels,
               full=all(p.full for p in parts), kernels={})

    def grid_like(arr_shape_tail, dtype=float):
        return np.full((nT, nW) + tuple(arr_shape_tail), np.nan, dtype=dtype)

    for p in parts:
        for a, temp in enumerate(p.temperatures):
            it = temperature_index(temps, float(temp))
            for b, w in enumerate(p.widths):
                iw = int(np.where(widths == int(w))[0][0])
                m.cells[(it, iw)] = p.source
                if m.full:
                    for key, v in p.theory.items():
                        if key not in m.theory:
                            m.theory[key] = grid_like(v.shape[2:])
                        m.theory[key][it, iw] = v[a, b]
                if p.alignment_theory is not None:
                    if m.alignment_theory is None:
                        m.alignment_theory = grid_like(p.alignment_theory.shape[2:])
                    m.alignment_theory[it, iw] = p.alignment_theory[a, b]
                if "renormalized" in p.kernels:
                    r = p.kernels["renormalized"]
                    if "renormalized" not in m.kernels:
                        m.kernels["renormalized"] = grid_like(r.shape[2:])
                    m.kernels["renormalized"][it, iw] = r[a, b]
            for key, v in p.gp.items():
                if key not in m.gp:
                    m.gp[key] = np.full((nT,) + v.shape[1:], np.nan)
                m.gp[key][it] = v[a]
            if p.alignment_gp is not None:
                if m.alignment_gp is None:
                    m.alignment_gp = np.full((nT,) + p.alignment_gp.shape[1:], np.nan)
                m.alignment_gp[it] = p.alignment_gp[a]
    for k in ("subset", "labels", "path", "gp"):
        if k in first.kernels:
            m.kernels[k] = first.kernels[k]
    return m


def load_baseline(main, key):
    """The GP baseline /baselines/<key> that `attnpaths theory --gp-baseline key=FILE` stores in the main
    experiment's file (used when there is no separate GP-only theory file); None when absent."""
    if main is None:
        return None
    path = main.files[0].path
    with h5py.File(path, "r") as f:
        g = f"{files.BASELINES}/{key}"
        if g not in f:
            return None
        a = attrs(f[g])
        gp = {k: read(f, f"{g}/{k}") for k in ("accuracy", "bias", "variance") if f"{g}/{k}" in f}
    data_attrs = dict(main.data_attrs)
    data_attrs.update({k: v for k, v in a.items() if k in ("H_tot", "path_labels")})
    return Theory(name=f"{main.name}:{key}", source=path, files=[], widths=np.array([], dtype=np.int64),
                  temperatures=main.temperatures, data_attrs=data_attrs,
                  path_labels=_path_labels(a, a.get("H_tot")), full=False, gp=gp, group=f"/{files.BASELINES}/{key}")


_CELL = re.compile(r"/(?:N(\d+)_)?T([^/]+)\.h5$")   # one cell N<w>_T<t>.h5, or every width T<t>.h5


def load_theory(results_dir, name):
    """The theory of experiment `name`: theory/<name>.h5, else the cells theory/<name>/N*_T*.h5 (or the
    per-temperature files theory/<name>/T*.h5 of jobs/theory_array.sbatch ARRAY_OVER=temperatures) merged;
    the same directly under the results directory (e.g. scripts/main.sh's flat layout); None if absent."""
    for base in (os.path.join(results_dir, "theory"), results_dir):
        single = os.path.join(base, name + ".h5")
        if os.path.isfile(single):
            return _load_theory_file(single, name)
        cell_dir = os.path.join(base, name)
        cells = sorted(p for p in glob.glob(os.path.join(cell_dir, "*.h5")) if _CELL.search(p))
        if cells:
            return _merge_cells([_load_theory_file(p, name) for p in cells], name, cell_dir)
    return None


def theory_names(results_dir):
    """Every experiment under theory/ (a file, or a directory of cells)."""
    out = set()
    for p in glob.glob(os.path.join(results_dir, "theory", "*")):
        if p.endswith(".h5"):
            out.add(os.path.basename(p)[:-3])
        elif os.path.isdir(p) and any(_CELL.search(c) for c in glob.glob(os.path.join(p, "*.h5"))):
            out.add(os.path.basename(p))
    return sorted(out)


@dataclass
class Samples:
    """One `attnpaths sample` file (docs/files.md §3)."""
    name: str
    path: str
    record: RunRecord
    width: int
    temperature: float
    chains: int
    draws: int
    path_labels: list
    u1_mean: np.ndarray | None
    u1_mcse: np.ndarray | None
    accuracy: float | None
    chain_accuracy: np.ndarray | None   # accuracy of each chain's mean predictor (from /samples/f_test)
    diagnostics: dict                   # flat name -> value/array from /diagnostics
    complete: bool                      # all requested draws present (no pending checkpoint)


def _chain_accuracy(f, data_file):
    ft = read(f, files.SAMPLES_KEYS["f_test"])
    if ft is None or ft.ndim != 3 or ft.shape[1] == 0:
        return None
    y = None
    if data_file and os.path.isfile(data_file):
        with h5py.File(data_file, "r") as d:
            y = read(d, files.DATA_TEST_Y)
    if y is None or len(y) != ft.shape[2]:
        return None
    mean = ft.mean(axis=1)   # [C, Q]
    return (np.sign(mean) == np.sign(y)[None, :]).mean(axis=1)


def _flat_group(g, prefix=""):
    out = {}
    for k, v in g.items():
        key = f"{prefix}{k}"
        if isinstance(v, h5py.Group):
            out.update(_flat_group(v, key + "/"))
        else:
            out[key] = np.asarray(v[()])
    for k, v in g.attrs.items():
        out[f"{prefix}@{k}"] = _text(v)
    return out


def _resolve(results_dir, path):
    if not path:
        return None
    if os.path.isabs(path) and os.path.isfile(path):
        return path
    for base in (results_dir, os.getcwd()):
        p = os.path.join(base, path)
        if os.path.isfile(p):
            return p
    return path if os.path.isfile(path) else None


def load_samples(results_dir, pattern):
    """The sample files matching `pattern` (a glob relative to the results directory, e.g.
    samples/markov4_N*.h5), sorted by width; unfinished `*.partial` files are never matched."""
    out = []
    for p in glob.glob(os.path.join(results_dir, pattern)):
        if not p.endswith(".h5"):
            continue
        m = re.search(r"N(\d+)\.h5$", p)
        with h5py.File(p, "r") as f:
            rec = RunRecord.load(f, p)
            if rec.format and rec.format != files.FORMATS["samples"]:
                continue   # a broad pattern may also match data or theory files
            data_attrs = attrs(f[files.DATA]) if files.DATA in f else {}
            cfg = rec.config
            if "width" not in cfg and not m:
                continue
            width = int(cfg.get("width", m.group(1) if m else 0))
            keys = files.SAMPLES_KEYS
            u1 = read(f, keys["U1_mean"])
            mcse = read(f, keys["U1_mcse"])
            acc = read(f, keys["accuracy"])
            s_u1 = f[keys["U1_draws"]] if keys["U1_draws"] in f else None
            chains = int(cfg.get("chains", s_u1.shape[0] if s_u1 is not None else 0))
            draws_done = int(s_u1.shape[1]) if s_u1 is not None else 0
            draws_req = int(cfg.get("draws", draws_done))
            diag = _flat_group(f[keys["diagnostics"]]) if keys["diagnostics"] in f else {}
            chain_acc = _chain_accuracy(f, _resolve(results_dir, cfg.get("data")))
            h = u1.shape[-1] if u1 is not None else None
            out.append(Samples(name=os.path.basename(p)[:-3], path=p, record=rec, width=width,
                               temperature=float(cfg.get("temperature", np.nan)), chains=chains,
                               draws=draws_done, path_labels=_path_labels(data_attrs, h),
                               u1_mean=u1, u1_mcse=mcse, accuracy=None if acc is None else float(acc),
                               chain_accuracy=chain_acc, diagnostics=diag,
                               complete=(u1 is not None and draws_done >= draws_req)))
    return sorted(out, key=lambda s: s.width)


def load_compare(results_dir, pattern):
    """`attnpaths compare` files matching `pattern` (glob relative to the results directory) as flat dicts."""
    out = []
    for p in sorted(glob.glob(os.path.join(results_dir, pattern))):
        if not p.endswith(".h5"):
            continue
        with h5py.File(p, "r") as f:
            if files.COMPARE not in f:
                continue
            out.append((p, RunRecord.load(f, p), _flat_group(f)))
    return out
