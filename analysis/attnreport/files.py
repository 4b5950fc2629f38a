"""The one Python reader of attnpaths' HDF5 result files (docs/files.md): theory (§2), selection
(§2.1), samples (§3) and compare (§4), and the dataset names of the data, model, pruning and robustness
files the report reads. The report (results.py, report.py), the tests and users read
the files through these functions and constants, never by spelling dataset names again.

One matching rule for temperatures, the same as the C++ commands (`compare`, `select`): two
temperatures are the same when they agree to a relative 1e-9 (same_temperature). A sample, a
selection or a merged file whose temperature is not in a theory grid by that rule does not match it.

    from attnreport import files
    th = files.read_theory("theory.h5")            # a dict of numpy arrays, [nT, nW, ...]
    sel = files.load_selection("selection.h5")     # or a theory file that holds /selection
    it = files.temperature_index(th["temperatures"], 0.05)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

FORMATS = {"theory": "attnpaths-theory", "samples": "attnpaths-samples", "compare": "attnpaths-compare",
           "selection": "attnpaths-selection", "robustness": "attnpaths-robustness"}
REL_TOL = 1e-9  # the temperature-matching rule of every command (results/theory_file.hpp same_temperature)

# Theory file (docs/files.md §2): report name -> dataset, grid arrays [nT, nW, ...] / GP arrays [nT].
THEORY_KEYS = {
    "U1": "theory/U1", "Ua": "theory/Ua", "action": "theory/action", "energy": "theory/energy",
    "entropy": "theory/entropy", "iterations": "theory/iterations", "grad_max": "theory/grad_max",
    "converged": "theory/converged",
    "accuracy": "predictor/theory/accuracy", "bias": "predictor/theory/bias",
    "variance": "predictor/theory/variance",
    "accuracy_diagonal": "predictor/theory_diagonal/accuracy",
}
GP_KEYS = {"accuracy": "predictor/gp/accuracy", "bias": "predictor/gp/bias", "variance": "predictor/gp/variance"}
THEORY_GRID = {"widths": "theory/widths", "temperatures": "theory/temperatures", "U1": "theory/U1"}
KERNEL_KEYS = {k: f"kernels/{k}" for k in ("subset", "labels", "path", "gp", "renormalized")}
ALIGNMENT_KEYS = {"gp": "alignment/gp", "theory": "alignment/theory"}
BASELINES = "baselines"        # /baselines/<name>: a GP baseline's accuracy, bias, variance (attrs H_tot, …)
OOD_SETS = "predictor/ood"     # /predictor/ood/<name>: the OOD sets' predictor statistics
# Selection group (docs/files.md §2.1; load_selection reads all of it).
SELECTION_KEYS = {"widths": "selection/widths", "temperatures": "selection/temperatures",
                  "theory_temperature": "selection/theory/temperature", "gp_temperature": "selection/gp/temperature"}
# Every file: the run record (docs/files.md §1).
CONFIG, PROVENANCE, TIMING, DATA = "config", "provenance", "provenance/timing", "data"
# Dataset file: the test labels.
DATA_TEST_Y = "test/y"
# Samples file (docs/files.md §3).
SAMPLES_KEYS = {"U1_mean": "sampled/U1/mean", "U1_mcse": "sampled/U1/mcse", "accuracy": "sampled/predictor/accuracy",
                "U1_draws": "samples/U1", "f_test": "samples/f_test", "diagnostics": "diagnostics"}
# Compare file (docs/files.md §4): report name -> dataset, one value per compared width.
COMPARE = "compare"
COMPARE_KEYS = {k: f"compare/{k}" for k in (
    "widths", "temperatures", "accuracy/theory", "accuracy/sampled", "accuracy/gp", "predictor/mean_correlation",
    "predictor/variance_ratio", "rhat/U1", "rhat/predictor")}
# Model file (`attnpaths train`): /evaluation/<set> attrs accuracy.
MODEL_EVALUATION = "evaluation"
# Pruning file (`attnpaths prune`).
PRUNE_KEYS = {"score": "heads/score", "order": "heads/order", "removed": "pruning/removed", "u_gd": "gd/U1",
              "pruning": "pruning"}
# Robustness file (`attnpaths robustness`).
ROBUSTNESS_KEYS = {"lipschitz": "lipschitz", "curves": "curves"}


def same_temperature(a, b):
    """True when the temperatures agree to a relative 1e-9 (the rule of every attnpaths command)."""
    a, b = float(a), float(b)
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def temperature_index(temperatures, temperature):
    """The index of `temperature` in a grid by same_temperature, or None when the grid has none."""
    for i, t in enumerate(np.atleast_1d(temperatures)):
        if same_temperature(t, temperature):
            return i
    return None


def predictor_group(set_name, root="predictor"):
    """Where a set's predictor statistics are: test -> predictor, validation -> predictor/validation,
    ood/<name> -> predictor/ood/<name> (root "baselines/<name>" for a GP baseline)."""
    return root if set_name == "test" else f"{root}/{set_name}"


def text(v):
    """HDF5 strings (bytes, arrays of bytes) as Python str/list; numpy scalars as Python numbers."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
        return [text(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [text(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def attrs(obj) -> dict:
    """All attributes of a group as Python values (strings decoded, 1-element arrays kept as lists)."""
    out = {}
    for k, v in obj.attrs.items():
        v = text(v)
        if isinstance(v, np.ndarray):
            v = v.tolist()
        out[k] = v
    return out


def read(f, path, default=None):
    """Dataset `path` of the open file `f` as a numpy array (or default when absent)."""
    if path in f and isinstance(f[path], h5py.Dataset):
        return np.asarray(f[path][()])
    return default


def file_format(f):
    """The root attribute `format` ("attnpaths-theory", ...), "" when absent."""
    return str(text(f.attrs.get("format", "")))


def evaluation_sets(f, root="predictor", probe="gp/accuracy"):
    """The evaluation sets stored under `root`: "test", "validation", "ood/<name>" (C++ stored_sets)."""
    sets = []
    if f"{root}/{probe}" in f:
        sets.append("test")
    if f"{root}/validation/{probe}" in f:
        sets.append("validation")
    if f"{root}/ood" in f:
        sets += [f"ood/{k}" for k in sorted(f[f"{root}/ood"]) if f"{root}/ood/{k}/{probe}" in f]
    return sets


def read_theory(path):
    """The theory file's grid and accuracies: temperatures, widths, path_labels, converged, U1, and
    accuracy[(predictor, set)] for predictor in theory, theory_diagonal, gp (and baseline:<name>)."""
    with h5py.File(path, "r") as f:
        out = {"path": path, "format": file_format(f), "temperatures": read(f, THEORY_GRID["temperatures"]),
               "widths": read(f, THEORY_GRID["widths"], np.array([], dtype=np.int64)),
               "path_labels": attrs(f[DATA]).get("path_labels", []) if DATA in f else [],
               "converged": read(f, THEORY_KEYS["converged"]), "U1": read(f, THEORY_KEYS["U1"]), "accuracy": {}}
        for s in evaluation_sets(f):
            for p in ("theory", "theory_diagonal", "gp"):
                v = read(f, f"{predictor_group(s)}/{p}/accuracy")
                if v is not None:
                    out["accuracy"][(p, s)] = v
        for name in (f[BASELINES] if BASELINES in f else []):
            root = f"{BASELINES}/{name}"
            for s in evaluation_sets(f, root, "accuracy"):
                out["accuracy"][(f"baseline:{name}", s)] = read(f, f"{predictor_group(s, root)}/accuracy")
    return out


@dataclass
class Selection:
    """The /selection group (docs/files.md §2.1) of a theory or selection file."""
    path: str
    temperatures: np.ndarray              # the merged grid, ascending
    widths: np.ndarray
    theory_temperature: np.ndarray        # [nW] the chosen Temp per width
    theory_index: np.ndarray              # [nW] index into temperatures
    theory_validation: np.ndarray         # [nW]
    theory_converged: np.ndarray          # [nW]
    theory_accuracy: dict                 # set ("test", "ood/<name>") -> [nW]
    gp: dict                              # temperature, validation_accuracy, accuracy {set: value}
    baselines: dict = field(default_factory=dict)  # name -> like gp
    attrs: dict = field(default_factory=dict)      # rule, sources, data_file, data_checksum, validation_set


def _accuracies(f, group):
    out = {}
    if f"{group}/accuracy" in f:
        f[f"{group}/accuracy"].visititems(
            lambda n, o: out.__setitem__(n, np.asarray(o[()])) if isinstance(o, h5py.Dataset) else None)
    return out


def _single(f, group):
    return {"temperature": float(f[f"{group}/temperature"][0]),
            "validation_accuracy": float(f[f"{group}/validation_accuracy"][0]),
            "accuracy": {k: float(v[0]) for k, v in _accuracies(f, group).items()}}


def load_selection(path):
    """The temperature selection stored in `path` (a theory file with /selection, or `attnpaths select`
    output); None when it holds none."""
    with h5py.File(path, "r") as f:
        if "selection" not in f:
            return None
        g = "selection"
        has_theory = f"{g}/theory/temperature" in f
        empty = np.array([])
        return Selection(
            path=path, temperatures=read(f, f"{g}/temperatures"), widths=read(f, f"{g}/widths", empty),
            theory_temperature=read(f, f"{g}/theory/temperature", empty),
            theory_index=read(f, f"{g}/theory/temperature_index", empty),
            theory_validation=read(f, f"{g}/theory/validation_accuracy", empty),
            theory_converged=read(f, f"{g}/theory/converged", empty),
            theory_accuracy=_accuracies(f, f"{g}/theory") if has_theory else {},
            gp=_single(f, f"{g}/gp"),
            baselines={k: _single(f, f"{g}/baselines/{k}") for k in (f[f"{g}/baselines"] if f"{g}/baselines" in f
                                                                     else [])},
            attrs=attrs(f[g]))
