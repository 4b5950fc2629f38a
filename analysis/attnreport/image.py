"""The image experiment's results (docs/model.md §5.2, §6; docs/analysis.md "The image report"): loading.

A results directory of jobs/image_pipeline.sbatch (or scripts/image.sh) holds
    theory/image.h5 (or theory/image/T<t>.h5 …)   the theory grid on the trained attention
    select/image.h5                                `attnpaths select`: /selection
    samples/image_N<w>.h5, compare/image.h5        HMC samples at the selected temperatures
    prune/image.h5                                 `attnpaths prune`: /heads, /pruning, /gd (docs/pruning.md)
    train/model.h5                                 `attnpaths train`: /evaluation/<set> (the GD network)
Nothing here plots or formats (image_figures.py and image_report.py do).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import files
from . import results as R

def ood_sets(path):
    """The OOD sets of a theory file, as 'ood/<name>'."""
    with h5py.File(path, "r") as f:
        return [f"ood/{k}" for k in f[files.OOD_SETS].keys()] if files.OOD_SETS in f else []


def set_accuracy(th, set_name):
    """Accuracy of the theory [nT, nW] and of the GP [nT] on one evaluation set, gathered over the theory's
    files (one grid file, or per-temperature / per-cell files); NaN where a file lacks the set."""
    nT, nW = len(th.temperatures), len(th.widths)
    theory, gp = np.full((nT, nW), np.nan), np.full(nT, np.nan)
    g = files.predictor_group(set_name)
    for path in sorted(set(th.cells.values())):
        with h5py.File(path, "r") as f:
            temps = np.atleast_1d(R.read(f, files.THEORY_GRID["temperatures"], np.array([])))
            widths = np.atleast_1d(R.read(f, files.THEORY_GRID["widths"], np.array([])))
            t_acc, g_acc = R.read(f, f"{g}/theory/accuracy"), R.read(f, f"{g}/gp/accuracy")
        for a, T in enumerate(temps):
            it = files.temperature_index(th.temperatures, T)
            if g_acc is not None:
                gp[it] = g_acc[a]
            for b, N in enumerate(widths):
                iw = int(np.nonzero(th.widths == int(N))[0][0])
                if t_acc is not None and th.cells.get((it, iw)) == path:
                    theory[it, iw] = t_acc[a, b]
    return theory, gp


def load_selection(path):
    """The temperature selection (files.Selection) of `attnpaths select` output or of a theory file that
    holds /selection; None when the file or the group is absent."""
    if not path or not os.path.isfile(path):
        return None
    return files.load_selection(path)


def selected_temperature(sel, width):
    """The temperature `sel` picked for `width` (NaN: no pick); KeyError when the width is not in it."""
    hit = np.nonzero(np.asarray(sel.widths) == int(width))[0]
    if not len(hit):
        raise KeyError(f"width {width} is not in the selection {sel.path} (widths {list(sel.widths)})")
    return float(sel.theory_temperature[hit[0]])


def gd_accuracy(model_path):
    """The GD network's accuracy per evaluation set (model file /evaluation/<set> attrs accuracy)."""
    out = {}
    if not model_path or not os.path.isfile(model_path):
        return out
    with h5py.File(model_path, "r") as f:
        if files.MODEL_EVALUATION not in f:
            return out

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "accuracy" in obj.attrs:
                out[name] = float(obj.attrs["accuracy"])
        f[files.MODEL_EVALUATION].visititems(visit)
    return out


@dataclass
class Pruning:
    """`attnpaths prune` output: head scores, single-head and progressive pruning per side and set."""
    path: str
    record: R.RunRecord
    width: int
    temperature: float
    temperature_rule: str
    score: np.ndarray               # [L, H] normalised by the max
    order: np.ndarray               # [K, 2] (layer from 1, head from 0), ascending score
    removed: np.ndarray             # [K+1] heads removed in the progressive curves
    sides: dict = field(default_factory=dict)   # (side, set) -> dict of arrays (full, single, drop, …)
    u_gd: np.ndarray | None = None  # [H_tot, H_tot]
    path_labels: list = field(default_factory=list)


PRUNE_SERIES = ("full", "single", "drop", "spearman", "ascending", "descending", "random", "random_mean",
                "random_std", "random_min", "random_max", "count")


def load_pruning(path):
    if not path or not os.path.isfile(path):
        return None
    with h5py.File(path, "r") as f:
        keys = files.PRUNE_KEYS
        if keys["score"] not in f:
            return None
        d = R.attrs(f[files.DATA]) if files.DATA in f else {}
        p = Pruning(path=path, record=R.RunRecord.load(f, path), width=int(d.get("width", 0)),
                    temperature=float(d.get("temperature", np.nan)),
                    temperature_rule=str(d.get("temperature_rule", "")), score=R.read(f, keys["score"]),
                    order=R.read(f, keys["order"]), removed=R.read(f, keys["removed"]),
                    u_gd=R.read(f, keys["u_gd"]), path_labels=R._path_labels(d))

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "full" in obj:
                side, _, set_name = name.partition("/")
                p.sides[(side, set_name)] = {k: R.read(obj, k) for k in PRUNE_SERIES if k in obj}
        if keys["pruning"] in f:
            f[keys["pruning"]].visititems(visit)
    return p


@dataclass
class ImageResults:
    results: str
    theory: R.Theory | None
    selection: Selection | None
    selection_path: str
    samples: list
    compare: list
    pruning: Pruning | None
    pruning_path: str
    gd: dict                      # set -> accuracy of the GD network
    model_path: str
    sets: list                    # evaluation sets with theory results: test, validation, ood/…
    accuracy: dict                # set -> (theory [nT, nW], gp [nT])


def load(results, name="image", selection=None, pruning=None, model=None, samples=None, compare=None):
    """Everything the image report reads, from the results directory (paths relative to it)."""
    th = R.load_theory(results, name)
    sel_path = os.path.join(results, selection or f"select/{name}.h5")
    prune_path = os.path.join(results, pruning or f"prune/{name}.h5")
    model_path = os.path.join(results, model or "train/model.h5")
    sets, acc = [], {}
    if th is not None and th.full:
        sets = ["test", "validation"] + ood_sets(th.cell_file(0, 0))
        acc = {s: set_accuracy(th, s) for s in sets}
    return ImageResults(results=results, theory=th, selection=load_selection(sel_path), selection_path=sel_path,
                        samples=R.load_samples(results, samples or f"samples/{name}_N*.h5"),
                        compare=R.load_compare(results, compare or f"compare/{name}*.h5"),
                        pruning=load_pruning(prune_path), pruning_path=prune_path, gd=gd_accuracy(model_path),
                        model_path=model_path, sets=sets, accuracy=acc)
