"""The image report's figures (paper Fig. 4-5; docs/analysis.md "The image report"), one function each.

Same contract as figures.py: each takes loaded results (image.py), writes <stem>.png and <stem>.pdf and
returns a Figure, or raises Skip(reason) when an input it needs is absent.
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from . import files
from . import image as I
from .figures import COLORS, Skip, _save, _width_axis

GD_COLOR = "#2a9d4b"


def selected_index(ir, iw):
    """Temperature index of the theory grid picked for width index iw (None if no pick)."""
    th, sel = ir.theory, ir.selection
    try:
        t = I.selected_temperature(sel, th.widths[iw])
    except KeyError:
        return None
    return files.temperature_index(th.temperatures, t) if np.isfinite(t) else None


def gp_index(ir):
    t = ir.selection.gp["temperature"]
    return files.temperature_index(ir.theory.temperatures, t) if np.isfinite(t) else None


def at_selected(ir, set_name):
    """Theory accuracy per width at its selected temperature [nW], and the GP's at the GP's pick."""
    theory, gp = ir.accuracy[set_name]
    th = [theory[i, iw] if i is not None else np.nan
          for iw, i in ((iw, selected_index(ir, iw)) for iw in range(len(ir.theory.widths)))]
    ig = gp_index(ir)
    return np.array(th), (gp[ig] if ig is not None else np.nan)


def legend_of_all(axes):
    """One legend, right of the last panel, with every series of every panel (each label once)."""
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    axes[-1].legend(list(seen.values()), list(seen.keys()), loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def need_selection(ir):
    if ir.theory is None or not ir.theory.full:
        raise Skip("no finite-width theory on the trained attention (theory/image.h5 or theory/image/*.h5)")
    if ir.selection is None:
        raise Skip(f"no temperature selection: {os.path.relpath(ir.selection_path, ir.results)} is absent (`attnpaths select`) and the theory "
                   "file holds no /selection group")


def accuracy_vs_n(ir, outdir):
    """Accuracy vs N in distribution and out of distribution: theory at the selected Temp, GP at its selected
    Temp, the sampled predictor, and the GD network as a reference line."""
    need_selection(ir)
    sets = ["test"] + [s for s in ir.sets if s.startswith("ood/")]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.6 * len(sets) + 1.5, 4.3), squeeze=False, constrained_layout=True)
    W = ir.theory.widths
    for ax, s in zip(axes[0], sets):
        th, gp = at_selected(ir, s)
        ax.plot(W, 100 * th, "o-", color=COLORS["theory"], lw=2, label="theory (selected Temp per N)")
        ax.axhline(100 * gp, color=COLORS["gp"], ls="--", lw=1.6, label=f"GP (Temp {ir.selection.gp['temperature']:g})")
        if s in ir.gd:
            ax.axhline(100 * ir.gd[s], color=GD_COLOR, ls=":", lw=2, label="GD network (trained)")
        if s == "test":
            pts = [(x.width, x.accuracy) for x in ir.samples if x.accuracy is not None]
            if pts:
                ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o", ms=9, color=COLORS["sampled"],
                        mec="white", mew=1.2, label="sampled (HMC)", zorder=4)
        _width_axis(ax, W)
        ax.set_ylabel(f"accuracy on {s} (%)")
        ax.set_title("in distribution (Omniglot test)" if s == "test" else f"out of distribution ({s[4:]})")
        ax.grid(True, alpha=0.25)
    legend_of_all(axes[0])
    cap = ("Accuracy of the mean predictor vs width N at the temperatures picked on the validation set "
           f"({ir.selection.attrs.get('validation_set') or 'the dataset’s /validation'}): the finite-width theory (each N at its "
           "own Temp), the GP limit at the GP's Temp, the HMC-sampled predictor (the sampler stores the test "
           "predictor only, so the OOD panel has no sampled dots) and the trained GD network as a reference.")
    return _save(fig, outdir, "accuracy_vs_n", "Accuracy vs N, in and out of distribution", cap)


def u1_panels(ir):
    """The U_1 maps to show side by side: (title, matrix or None, why absent)."""
    th = ir.theory
    width = ir.pruning.width if ir.pruning is not None and ir.pruning.width else int(th.widths[0])
    hit = np.nonzero(th.widths == width)[0]
    iw = int(hit[0]) if len(hit) else 0
    it = selected_index(ir, iw)
    panels = [(f"theory U₁, N = {th.widths[iw]}, Temp {th.temperatures[it]:g}", th.theory["U1"][it, iw], "")]
    s = next((x for x in ir.samples if x.width == int(th.widths[iw]) and x.u1_mean is not None), None)
    panels.append((f"sampled U₁, N = {th.widths[iw]}" + (f", Temp {s.temperature:g}" if s else ""),
                   None if s is None else s.u1_mean,
                   "" if s else f"no samples at N = {th.widths[iw]} (samples/image_N{th.widths[iw]}.h5)"))
    u = ir.pruning.u_gd if ir.pruning is not None else None
    panels.append(("GD network U^GD", u, "" if u is not None else f"no /gd/U1 in {os.path.relpath(ir.pruning_path, ir.results)} (`attnpaths prune "
                                                                    "--model`)"))
    return panels


def u1_maps(ir, outdir):
    need_selection(ir)
    panels = u1_panels(ir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for ax, (title, U, why) in zip(axes, panels):
        ax.set_title(title)
        if U is None:
            ax.text(0.5, 0.5, "absent:\n" + why, ha="center", va="center", wrap=True, fontsize=9,
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        V = np.asarray(U) / np.max(np.abs(U))
        im = ax.imshow(V, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xlabel("path π′")
        ax.set_ylabel("path π")
        fig.colorbar(im, ax=ax, shrink=0.8)
    cap = ("Path–path order parameter U₁ (each map divided by its largest |entry|): the theory's at the pruning width "
           "and its selected Temp, the posterior mean of the sampled U^s at the same width, and the trained "
           "network's U^GD = W^GD W^GDᵀ (W^GD_(h1,h2) = aᵀV₂^{h2}V₁^{h1}). Paths are ordered (h₁, h₂) layer-1-head "
           "major.")
    return _save(fig, outdir, "u1_maps", "U₁ maps: theory, sampled, GD", cap)


def alignment(ir, outdir):
    """Kernel–label alignment of the GP (at its Temp) and of the theory (smallest N, at its Temp)."""
    need_selection(ir)
    th = ir.theory
    ig, it = gp_index(ir), selected_index(ir, 0)
    if th.alignment_gp is None or th.alignment_theory is None or ig is None or it is None:
        raise Skip("no /alignment/{gp,theory} in the theory results (attnpaths theory --alignment)")
    gp, t = th.alignment_gp[ig], th.alignment_theory[it, 0]
    k = np.arange(1, len(gp) + 1)
    ok = np.isfinite(gp) & np.isfinite(t)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    a1.bar(k[ok] - 0.2, gp[ok], width=0.4, color=COLORS["gp"], label=f"GP, Temp {th.temperatures[ig]:g}")
    a1.bar(k[ok] + 0.2, t[ok], width=0.4, color=COLORS["theory"],
           label=f"theory, N = {th.widths[0]}, Temp {th.temperatures[it]:g}")
    a1.set_xlabel("eigenvector rank k")
    a1.set_ylabel("overlap |v_k · y| / √P")
    a1.legend(frameon=False)
    a2.plot(k[ok], np.cumsum(gp[ok] ** 2), "o-", ms=3, color=COLORS["gp"])
    a2.plot(k[ok], np.cumsum(t[ok] ** 2), "o-", ms=3, color=COLORS["theory"])
    a2.set_xlabel("k")
    a2.set_ylabel("label fraction in the top k")
    a2.grid(True, alpha=0.25)
    cap = ("Overlap of the training labels with the top eigenvectors of the GP kernel and of the theory's "
           "renormalised kernel (smallest N), each at its validation-selected temperature.")
    return _save(fig, outdir, "alignment", "Kernel–label alignment, GP vs theory", cap)


def need_pruning(ir, side="network"):
    if ir.pruning is None:
        raise Skip(f"no pruning results: {os.path.relpath(ir.pruning_path, ir.results)} is absent (`attnpaths prune`)")
    if (side, "test") not in ir.pruning.sides:
        raise Skip(f"{os.path.relpath(ir.pruning_path, ir.results)} has no /pruning/{side}/test (`attnpaths prune --model`)")


def head_scores(ir, outdir):
    """Head score vs single-head accuracy drop of the GD network, with Spearman's ρ."""
    need_pruning(ir)
    p = ir.pruning
    sets = [s for (side, s) in p.sides if side == "network" and (s == "test" or s.startswith("ood/"))]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    marks = {"test": ("o", COLORS["theory"])}
    for s in sorted(sets, key=lambda x: x != "test"):
        d = p.sides[("network", s)]
        m, c = marks.get(s, ("s", COLORS["sampled"]))
        ok = np.isfinite(d["drop"]) & np.isfinite(p.score)
        ax.scatter(p.score[ok], 100 * d["drop"][ok], marker=m, color=c, s=50,
                   label=f"{s}: Spearman ρ = {float(d['spearman']):.3f}")
        for (l, h) in zip(*np.nonzero(ok)):
            if s == "test":
                ax.annotate(f"{l + 1}:{h}", (p.score[l, h], 100 * d["drop"][l, h]), fontsize=8,
                            xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("head score (normalised by the max)")
    ax.set_ylabel("accuracy drop when removed alone (points)")
    ax.legend(frameon=False)
    ax.grid(True, alpha=0.25)
    cap = (f"Score of each head (from the theory U₁ at N = {p.width}, Temp {p.temperature:g}) against the GD "
           "network's accuracy drop when that head alone is removed (its layer's head sum rescaled); labels "
           "layer:head. ρ: Spearman rank correlation, read from the prune file.")
    return _save(fig, outdir, "head_scores", "Head score vs single-head accuracy drop", cap)


def pruning_curve(ir, outdir):
    """Progressive pruning: ascending-score order vs random orders (mean ± sd, min–max)."""
    need_pruning(ir)
    p = ir.pruning
    sets = ["test"] + [s for (side, s) in p.sides if side == "network" and s.startswith("ood/")]
    fig, axes = plt.subplots(1, len(sets), figsize=(5.8 * len(sets), 4.3), squeeze=False, constrained_layout=True)
    for ax, s in zip(axes[0], sets):
        d = p.sides[("network", s)]
        k = p.removed
        ax.fill_between(k, 100 * d["random_min"], 100 * d["random_max"], color="0.85", label="random orders: min–max")
        ax.errorbar(k, 100 * d["random_mean"], yerr=100 * d["random_std"], color="0.3", capsize=3,
                    label=f"random orders: mean ± sd ({len(d['random'])})")
        ax.plot(k, 100 * d["ascending"], "o-", color=COLORS["theory"], lw=2, label="ascending score (low first)")
        if "descending" in d:
            ax.plot(k, 100 * d["descending"], "s--", color=COLORS["sampled"], lw=1.4, label="descending score")
        ax.set_xlabel("heads removed")
        ax.set_ylabel(f"GD network accuracy on {s} (%)")
        ax.grid(True, alpha=0.25)
    legend_of_all(axes[0])
    cap = ("Progressive pruning of the GD network: heads removed cumulatively in ascending score order (the least "
           "important first) against random orders; a head whose removal would empty its layer is skipped.")
    return _save(fig, outdir, "pruning_curve", "Progressive pruning: score order vs random", cap)
