"""The report's robustness section (docs/robustness.md): per-head and per-path Lipschitz bounds
against the measured constants, and accuracy against the perturbation size for the theory and the
GP, from one `attnpaths robustness` file."""
from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np

from . import figures as F
from . import files
from .markdown import num, table

plt = F.plt


@dataclass
class Robustness:
    source: str
    radius: float
    worst: float
    examples: int
    heads: dict
    paths: dict
    labels: list
    temperature: float
    perturbations: list
    epsilons: np.ndarray
    widths: np.ndarray
    gp: dict
    theory: dict


def load(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != files.FORMATS["robustness"]:
            raise SystemExit(f"report.py: {path} is not an `attnpaths robustness` file")
        lip = f[files.ROBUSTNESS_KEYS["lipschitz"]]
        grab = lambda g: {k: g[k][()] for k in g}  # noqa: E731
        c = f[files.ROBUSTNESS_KEYS["curves"]]
        labels = [s.decode() if isinstance(s, bytes) else str(s) for s in f[files.DATA].attrs["path_labels"]]
        perts = [s.decode() if isinstance(s, bytes) else str(s) for s in c.attrs["perturbations"]]
        return Robustness(path, float(lip.attrs["radius"]), float(lip.attrs["worst_ratio"]), int(lip.attrs["examples"]),
                          grab(lip["heads"]), grab(lip["paths"]), labels, float(c.attrs["temperature"]), perts,
                          c["epsilons"][()], c["widths"][()], grab(c["gp"]),
                          grab(c["theory"]) if "theory" in c else {})


def bounds_figure(rb, outdir):
    """Per-head and per-path bound vs the largest measured ratio (log scale)."""
    h, p = rb.heads, rb.paths
    head_names = [f"{int(l)}.{int(k)}" for l, k in zip(h["layer"], h["head"])]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    panels = [(axes[0], head_names, h["bound_frobenius"], h["random_frobenius"], h["adversarial_frobenius"],
               "head Ω, Frobenius"),
              (axes[1], head_names, h["bound_transport"], h["random_transport"], h["adversarial_transport"],
               "head Ω, transport (max_t ℓ1 / d∞)"),
              (axes[2], rb.labels, p["bound"], np.maximum(p["random_frobenius"], p["random_transport"]),
               np.maximum(p["adversarial_frobenius"], p["adversarial_transport"]), "path x̃_π (per ‖δ‖_F or d∞)")]
    for ax, names, bound, rnd, adv, title in panels:
        x = np.arange(len(names))
        ax.bar(x - 0.27, bound, 0.27, label="bound", color="0.6")
        ax.bar(x, adv, 0.27, label="adversarial", color=F.COLORS["sampled"])
        ax.bar(x + 0.27, rnd, 0.27, label="random", color=F.COLORS["theory"])
        ax.set_yscale("log")
        ax.set_ylim(top=ax.get_ylim()[1] * 30)  # room for the legend above the bars
        ax.set_xticks(x, names)
        ax.set_title(title)
    axes[0].set_ylabel("Lipschitz constant")
    axes[0].legend(loc="upper left", ncol=3)
    return F._save(fig, outdir, "robustness_bounds", "Lipschitz bounds vs measured constants",
                   f"Bounds on B_R (R = {rb.radius:.3g}) against the largest ratios measured on {rb.examples} test "
                   f"inputs; worst measured/bound = {rb.worst:.3g} (must be ≤ 1).")


def accuracy_figure(rb, outdir):
    """Accuracy against ε, one panel per perturbation: GP and each width of the theory."""
    n = len(rb.perturbations)
    fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 3.6), constrained_layout=True, squeeze=False)
    for j, name in enumerate(rb.perturbations):
        ax = axes[0, j]
        ax.plot(rb.epsilons, rb.gp["accuracy"][j], "o-", color=F.COLORS["gp"], label="GP")
        for w, width in enumerate(rb.widths):
            ax.plot(rb.epsilons, rb.theory["accuracy"][w, j], "s-", label=f"theory N = {width}",
                    color=plt.cm.Blues(0.45 + 0.5 * (w + 1) / len(rb.widths)))
        ax.set_xscale("symlog", linthresh=max(1e-3, float(np.min(rb.epsilons[rb.epsilons > 0], initial=1))))
        ax.set_xlabel("ε" + (" (fraction of tokens)" if name == "replace" else ""))
        ax.set_title(name)
        ax.axhline(0.5, color="0.8", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].legend()
    return F._save(fig, outdir, "robustness_accuracy", "Accuracy under perturbed test inputs",
                   f"Accuracy of the mean predictor (Temp = {rb.temperature:g}) on perturbed test inputs: "
                   "finite-width theory and GP.")


def section(report, path):
    """Appends the robustness section to `report` (report.py's Report)."""
    rb = load(path)
    report.w("## Robustness to perturbed inputs", "",
             f"From `{os.path.relpath(path, report.results)}` (`attnpaths robustness`, docs/robustness.md).", "")
    report.figure(bounds_figure, rb, report.out)
    rows = [[f"path {lab}", num(b), num(max(a, c)), num(w)]
            for lab, b, a, c, w in zip(rb.labels, rb.paths["bound"], rb.paths["adversarial_frobenius"],
                                       rb.paths["adversarial_transport"], rb.paths["worst_ratio"])]
    src = os.path.relpath(path, report.results)
    report.w(*table("robustness_paths", src, ["map", "bound", "largest measured", "worst measured/bound"], rows))
    report.figure(accuracy_figure, rb, report.out)
    head = ["perturbation", "ε", "GP"] + [f"theory N = {w}" for w in rb.widths]
    rows = []
    for j, name in enumerate(rb.perturbations):
        for i, e in enumerate(rb.epsilons):
            rows.append([name, f"{e:g}", num(rb.gp["accuracy"][j, i])] +
                        [num(rb.theory["accuracy"][w, j, i]) for w in range(len(rb.widths))])
    report.w(*table("robustness_accuracy", src, head, rows))
