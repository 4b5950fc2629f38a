"""The report's figures (paper Fig. 2-3 and their diagnostics), one function each.

Every function takes loaded results (results.py) and an output directory, writes <stem>.png and
<stem>.pdf, and returns a Figure; when a product it needs is absent it raises Skip(reason) and the
report prints the reason instead of the image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from .files import temperature_index  # noqa: E402

plt.rcParams.update({
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9.5,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 100, "savefig.dpi": 150,
    "axes.grid": False, "axes.spines.top": False, "axes.spines.right": False,
})

COLORS = {"theory": "#1f5fa8", "gp": "0.15", "g": "#2a9d4b", "gd": "#e07b00", "sampled": "#c0262d",
          "diagonal": "#7b3fa0"}


# The paper's Markov experiments (docs/model.md §5.1): their claims are shown only for these.
MARKOV_TASK = "markov"
MARKOV4_LABELS = ["g", "a1", "d", "a2"]
MARKOV2_LABELS = ["g", "d"]


def task_title(th):
    """How a figure or the report names the task of a theory result: from the dataset's `task`."""
    if th.task == MARKOV_TASK:
        return "hidden-Markov-chain task"
    return f"task '{th.task}'" if th.task else f"dataset '{th.name}'"


class Skip(Exception):
    """A figure cannot be drawn from what is in the results directory."""


@dataclass
class Figure:
    stem: str
    title: str
    caption: str
    png: str
    pdf: str


def _save(fig, outdir, stem, title, caption):
    png = os.path.join(outdir, stem + ".png")
    pdf = os.path.join(outdir, stem + ".pdf")
    # constrained-layout figures already fit their canvas; "tight" would render each one twice more
    tight = None if fig.get_constrained_layout() else "tight"
    fig.savefig(png, bbox_inches=tight)
    fig.savefig(pdf, bbox_inches=tight)
    plt.close(fig)
    return Figure(stem, title, caption, png, pdf)


def pick_widths(widths, k=4):
    """Up to k widths spread over the grid on a log scale, always the smallest and the largest."""
    widths = np.asarray(widths)
    if len(widths) <= k:
        return list(range(len(widths)))
    targets = np.geomspace(widths.min(), widths.max(), k)
    idx = []
    for t in targets:
        order = np.argsort(np.abs(np.log(widths) - np.log(t)))
        for i in order:
            if int(i) not in idx:
                idx.append(int(i))
                break
    return sorted(idx)


def _temperature_index(th, temperature):
    """The grid index of `temperature` by the one matching rule (files.same_temperature); 0 for None."""
    if temperature is None:
        return 0
    i = temperature_index(th.temperatures, temperature)
    if i is None:
        raise Skip(f"temperature {temperature:g} is not in the grid of {th.name} ({', '.join(map(_fmt_t, th.temperatures))})")
    return i


def _fmt_t(t):
    return f"{t:g}"


def _width_axis(ax, widths):
    """Log-scaled width axis with a tick at every computed width, labelled in plain numbers."""
    ax.set_xscale("log")
    ax.set_xticks(list(widths), [str(int(w)) for w in widths])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("network width N")


# ----------------------------------------------------------------------------------------------
def accuracy_vs_width(main, baselines, samples, outdir, temperature=None):
    """Test accuracy vs width: a theory line and a GP line per temperature, sampled dots, and the GP lines
    of the baseline path sets (the Markov task's g alone / g+d) when present."""
    if main is None or not main.full or "accuracy" not in main.theory:
        raise Skip(f"no finite-width theory results for the main experiment (theory/{main.name if main else '…'}*)")
    it0 = _temperature_index(main, temperature)
    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    W = main.widths
    nT = len(main.temperatures)
    for it in range(nT):
        style = dict(color=COLORS["theory"]) if it == it0 else dict(color=plt.cm.Blues(0.35 + 0.5 * it / max(nT, 1)), alpha=0.8)
        tl = f", T={_fmt_t(main.temperatures[it])}" if nT > 1 else ""
        ax.plot(W, 100 * main.theory["accuracy"][it], "o-", lw=2, ms=5, label="theory (finite width)" + tl, zorder=3,
                **style)
        if "accuracy" in main.gp:   # the GP limit of the same network at this temperature
            gp_style = dict(color=COLORS["gp"]) if it == it0 else dict(color=style["color"], alpha=0.8)
            ax.axhline(100 * main.gp["accuracy"][it], ls="--", lw=1.6, label=f"GP limit, all {main.h_tot} paths" + tl,
                       **gp_style)
    if "accuracy" in main.gp:
        # the finite-width gain over the GP of the same network
        ax.fill_between(W, 100 * main.gp["accuracy"][it0], 100 * main.theory["accuracy"][it0], color=COLORS["theory"],
                        alpha=0.08, lw=0)
    names = {"g": ("GP limit, g alone", ":"), "gd": ("GP limit, g + d", "-.")}
    for key, th in baselines.items():
        if th is None or "accuracy" not in th.gp:
            continue
        jt = temperature_index(th.temperatures, main.temperatures[it0])
        if jt is None:
            continue   # the baseline was not computed at this temperature
        label, ls = names[key]
        ax.axhline(100 * th.gp["accuracy"][jt], color=COLORS[key], ls=ls, lw=1.8, label=label)
    if samples:
        sw = np.array([s.width for s in samples if s.accuracy is not None])
        sa = np.array([100 * s.accuracy for s in samples if s.accuracy is not None])
        if len(sw):
            lo, hi = [], []
            for s in samples:
                if s.accuracy is None:
                    continue
                if s.chain_accuracy is not None and len(s.chain_accuracy) > 1:
                    lo.append(100 * s.accuracy - 100 * s.chain_accuracy.min())
                    hi.append(100 * s.chain_accuracy.max() - 100 * s.accuracy)
                else:
                    lo.append(0.0); hi.append(0.0)
            ax.errorbar(sw, sa, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o", color=COLORS["sampled"],
                        ms=8, mec="white", mew=1.2, capsize=3, zorder=4, label="sampled (HMC);\nbars: range over chains")
    _width_axis(ax, W)
    ax.set_ylabel("test accuracy (%)")
    tt = _fmt_t(main.temperatures[it0])
    ax.set_title(f"{task_title(main)}, {main.h_tot} paths: accuracy vs width"
                 + (f" (T = {tt})" if nT == 1 else f" (shaded: T = {tt})"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(True, which="major", alpha=0.25)
    shown = [names[k][0].replace("GP limit, ", "") for k, th in baselines.items() if th is not None and "accuracy" in th.gp]
    cap = ("Test accuracy of the mean predictor vs width N. Solid: finite-width theory (U_1 from the minimised "
           "action); dashed: the GP (infinite-width) limit of the same network with all paths, one line per "
           "temperature in the colour of its theory line"
           + (f"; dotted/dash-dotted: the GP limit with the path sets {' and '.join(shown)}" if shown else "")
           + "; dots: HMC posterior samples at finite N (bars: range of the per-chain accuracies). As N grows the "
           "theory approaches the GP line of its temperature.")
    if main.is_task(MARKOV_TASK, MARKOV4_LABELS):
        cap += " On this task the paper finds the theory well above the GP at small N."
    return _save(fig, outdir, "accuracy_vs_width", f"Accuracy vs width ({main.h_tot} paths)", cap)


def _heat(ax, m, labels, vmax, annotate=True, cmap="RdBu_r", fmt=".2f"):
    norm = TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    im = ax.imshow(m, cmap=cmap, norm=norm)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    if annotate and len(labels) <= 6:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m[i, j]
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=9,
                        color="white" if abs(v) > 0.55 * vmax else "black")
    return im


def u1_heatmaps(main, outdir, temperature=None):
    """U_1 − U_1^GP at several widths: red = amplified over the GP value, blue = suppressed, each panel on
    its own symmetric colour scale so that the small deviations of large N stay readable."""
    if main is None or not main.full or "U1" not in main.theory:
        raise Skip("no U_1 in the main experiment's theory results")
    it = _temperature_index(main, temperature)
    sel = pick_widths(main.widths, 4)
    U = main.theory["U1"][it]
    h = U.shape[-1]
    gp = main.gp_u1 * np.eye(h)  # U_1^GP = σa² Π σl² · I (docs/model.md §3.5)
    fig, axes = plt.subplots(1, len(sel), figsize=(3.3 * len(sel) + 0.4, 3.4), constrained_layout=True)
    for ax, i in zip(np.atleast_1d(axes), sel):
        d = U[i] - gp
        vmax = float(np.nanmax(np.abs(d))) or 1e-12
        im = _heat(ax, d, main.path_labels, vmax, fmt=".2g")
        ax.set_title(f"N = {main.widths[i]}")
        fig.colorbar(im, ax=ax, shrink=0.8, format="%.2g")
    fig.suptitle(f"U₁ − U₁^GP (GP value {main.gp_u1:g} on the diagonal), {main.h_tot} paths, {task_title(main)} "
                 f"(T = {_fmt_t(main.temperatures[it])})")
    cap = ("Deviation of the path–path order parameter from its infinite-width (GP) value, U_1 − U_1^GP, at several "
           "widths (rows/columns: attention paths; numbers: the deviations). Red entries are amplified above the GP "
           "value, blue ones suppressed below it (off the diagonal the GP value is 0: red/blue is the sign of the "
           "cross-path coupling). Each panel has its own symmetric scale, so the sign pattern stays visible at "
           "large N where the deviations are small; the U_1 tables give the values themselves.")
    if main.is_task(MARKOV_TASK, MARKOV4_LABELS):
        cap += (" On this task the paper finds g and d amplified with a negative g–d entry and a1, a2 suppressed at "
                "small N, all tending to the GP value as N grows.")
    return _save(fig, outdir, "u1_heatmaps", "U₁ − U₁^GP heat maps", cap)


def _kernel_panel(ax, k, labels, title):
    vmax = float(np.nanmax(np.abs(k))) or 1.0
    im = ax.imshow(k, cmap="RdBu_r", norm=TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax), interpolation="nearest")
    if labels is not None and len(labels) > 1:
        change = np.nonzero(np.diff(np.sign(labels)))[0]
        for c in change:
            ax.axhline(c + 0.5, color="k", lw=0.8)
            ax.axvline(c + 0.5, color="k", lw=0.8)
    ax.set_title(title, fontsize=10.5)
    ax.set_xticks([]); ax.set_yticks([])
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.03)


def kernels(main, outdir, temperature=None):
    """Path kernels C_ππ, the GP kernel and the renormalised kernel on a subset sorted by class."""
    if main is None or not {"path", "gp"} <= set(main.kernels):
        raise Skip("no /kernels group in the main experiment's theory results")
    kern = main.kernels
    labels = kern.get("labels")
    paths = kern["path"]
    h = paths.shape[0]
    bottom = [("GP kernel  K_GP = Σ_π C_ππ", kern["gp"])]
    it = _temperature_index(main, temperature)
    if "renormalized" in kern and main.full:
        R = kern["renormalized"]
        iws = [0, len(main.widths) - 1] if len(main.widths) > 1 else [0]
        for iw in iws:
            bottom.append((f"renormalised K(U₁), N = {main.widths[iw]}", R[it, iw]))
        bottom.append((f"K(U₁) − K_GP, N = {main.widths[0]}", R[it, 0] - kern["gp"]))
    ncol = max(h, len(bottom))
    fig, axes = plt.subplots(2, ncol, figsize=(3.1 * ncol, 6.2), constrained_layout=True)
    for j in range(ncol):
        ax = axes[0, j]
        if j < h:
            _kernel_panel(ax, paths[j], labels, f"path kernel C_ππ, π = {main.path_labels[j]}")
        else:
            ax.axis("off")
        ax = axes[1, j]
        if j < len(bottom):
            _kernel_panel(ax, bottom[j][1], labels, bottom[j][0])
        else:
            ax.axis("off")
    m = paths.shape[-1]
    fig.suptitle(f"Kernels on {m} training examples sorted by class (lines: class boundary, y = +1 first)")
    cap = ("Top: the diagonal path kernels C_ππ (one per attention path). Bottom: the GP kernel (uniform sum of the "
           "diagonal path kernels), the renormalised kernel K(U_1) = Σ U_ππ' C_ππ' at the smallest and largest width, "
           "and its difference from the GP kernel at the smallest width. Block structure aligned with the class "
           "boundary means the kernel separates the classes.")
    return _save(fig, outdir, "kernels", "Path, GP and renormalised kernels", cap)


def alignment(main, outdir, temperature=None):
    """Kernel–label alignment overlaps |v_k·y|/sqrt(P), GP vs theory (docs/model.md §3.7)."""
    if main is None or main.alignment_gp is None:
        raise Skip("no /alignment group in the main experiment's theory results")
    it = _temperature_index(main, temperature)
    gp = main.alignment_gp[it]
    kmax = int(np.max(np.nonzero(np.isfinite(gp))[0], initial=-1)) + 1
    if kmax == 0:
        raise Skip("the GP alignment overlaps are all undefined (NaN)")
    gp = gp[:kmax]
    k = np.arange(1, kmax + 1)
    series = [("GP", gp, COLORS["gp"])]
    if main.alignment_theory is not None and main.full:
        iws = [0] if len(main.widths) == 1 else [0, pick_widths(main.widths, 3)[1]]
        shades = [COLORS["theory"], "#6fa8dc"]
        for c, iw in zip(shades, iws):
            series.append((f"theory, N = {main.widths[iw]}", main.alignment_theory[it, iw][:kmax], c))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.0), gridspec_kw={"width_ratios": [2.2, 1]},
                                   constrained_layout=True)
    bw = 0.8 / len(series)
    for n, (lab, v, c) in enumerate(series):
        ax1.bar(k + (n - (len(series) - 1) / 2) * bw, v, width=bw, color=c, label=lab)
        ok = np.isfinite(v)   # k beyond P has no eigenvector (NaN)
        ax2.plot(k[ok], np.cumsum(v[ok] ** 2), "o-", ms=3, color=c, label=lab)
    ax1.set_xlabel("eigenvector rank k (by decreasing eigenvalue)")
    ax1.set_ylabel("overlap |v_k · y| / √P")
    ax1.set_title("Kernel–label alignment")
    ax1.legend(frameon=False)
    ax2.set_xlabel("k")
    ax2.set_ylabel(r"$\sum_{j \leq k}$ overlap$_j^2$")
    ax2.set_title("label fraction in the top k")
    ax2.set_ylim(0, 1.02)
    ax2.grid(True, alpha=0.25)
    cap = ("Overlap of the labels with the top eigenvectors of the train–train kernel: GP kernel vs the renormalised "
           "kernel of the finite-width theory. Right: cumulative fraction of the label vector captured by the top k "
           "eigenvectors. Finite width concentrates the label on fewer top components.")
    return _save(fig, outdir, "alignment", "Kernel–label alignment", cap)


def accuracy_two_paths(noisy, outdir, temperature=None):
    """Noisier 2-path task: theory, diagonal-only U_1 and GP vs width."""
    if noisy is None or not noisy.full or "accuracy" not in noisy.theory:
        raise Skip("no theory results for the second experiment (the noisier 2-path task; report.py --noisy)")
    it = _temperature_index(noisy, temperature)
    W = noisy.widths
    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    ax.plot(W, 100 * noisy.theory["accuracy"][it], "o-", color=COLORS["theory"], lw=2, ms=5,
            label="theory (full U₁)")
    if "accuracy_diagonal" in noisy.theory:
        ax.plot(W, 100 * noisy.theory["accuracy_diagonal"][it], "s--", color=COLORS["diagonal"], lw=1.8, ms=5,
                label="theory, diagonal-only U₁\n(cross-path terms set to 0)")
    if "accuracy" in noisy.gp:
        for jt, T in enumerate(noisy.temperatures):   # the GP line of every temperature
            ax.axhline(100 * noisy.gp["accuracy"][jt], color=COLORS["gp"], ls="--", lw=1.6 if jt == it else 1.0,
                       alpha=1.0 if jt == it else 0.5,
                       label="GP limit" + (f", T={_fmt_t(T)}" if len(noisy.temperatures) > 1 else ""))
    _width_axis(ax, W)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{task_title(noisy)}, {noisy.h_tot} paths ({', '.join(noisy.path_labels)}): "
                 f"T = {_fmt_t(noisy.temperatures[it])}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(True, alpha=0.25)
    cap = ("Full theory vs the same theory with the off-diagonal (cross-path) elements of U_1 set to zero, and the "
           "GP limit.")
    if noisy.is_task(MARKOV_TASK, MARKOV2_LABELS):
        cap += (" Here the noisier 2-path Markov task (out-of-plane noise ×5): on it the paper finds that the gain over "
                "the GP comes from the g–d cross term, which the diagonal-only predictor loses.")
    return _save(fig, outdir, "accuracy_two_paths", "Noisier 2-path task", cap)


def u1_z_scores(theory, sampled, mcse):
    """(sampled − theory) / MCSE per entry of U_1; None without standard errors."""
    if mcse is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mcse > 0, (np.asarray(sampled) - np.asarray(theory)) / mcse, np.nan)


def u1_theory_vs_sampled(main, samples, outdir):
    """Theory U_1 next to the sampled mean U_1 at each sampled width."""
    if not samples:
        raise Skip("no finished HMC sample files for the main experiment: sampling was not run (or is still running)")
    if main is None or not main.full or "U1" not in main.theory:
        raise Skip("no theory U_1 to compare the samples with")
    rows = []
    for s in samples:
        if s.u1_mean is None:
            continue
        hits = np.nonzero(main.widths == s.width)[0]
        if not len(hits):
            continue
        it = temperature_index(main.temperatures, s.temperature) if np.isfinite(s.temperature) else 0
        if it is None:
            continue   # sampled at a temperature that the theory grid does not have
        rows.append((s, main.theory["U1"][it, hits[0]]))
    if not rows:
        raise Skip("no sampled width matches a theory width")
    vmax = max(max(np.abs(s.u1_mean).max(), np.abs(t).max()) for s, t in rows)
    fig, axes = plt.subplots(len(rows), 4, figsize=(14.5, 3.4 * len(rows)), squeeze=False, constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1.05, 1.05]})
    for r, (s, t) in enumerate(rows):
        _heat(axes[r, 0], t, main.path_labels, vmax)
        axes[r, 0].set_title(f"theory U₁, N = {s.width}")
        im = _heat(axes[r, 1], s.u1_mean, main.path_labels, vmax)
        axes[r, 1].set_title(f"sampled ⟨U₁⟩, N = {s.width}")
        ax = axes[r, 2]
        iu = np.triu_indices(t.shape[0])
        err = s.u1_mcse[iu] if s.u1_mcse is not None else None
        ax.errorbar(t[iu], s.u1_mean[iu], yerr=err, fmt="o", color=COLORS["sampled"], ms=5, capsize=2)
        lim = [min(t[iu].min(), s.u1_mean[iu].min()) - 0.1, max(t[iu].max(), s.u1_mean[iu].max()) + 0.1]
        ax.plot(lim, lim, color="0.5", lw=1, ls="--", label="y = x")
        ax.set_xlabel("theory U₁ entry")
        ax.set_ylabel("sampled U₁ entry (± MCSE)")
        ax.set_title(f"entries, N = {s.width}")
        ax.legend(frameon=False, loc="upper left")
        z = u1_z_scores(t, s.u1_mean, s.u1_mcse)
        if z is not None:
            zim = _heat(axes[r, 3], z, main.path_labels, max(3.0, float(np.nanmax(np.abs(z)))), fmt=".1f")
            axes[r, 3].set_title(f"z = (sampled − theory)/MCSE, N = {s.width}")
            fig.colorbar(zim, ax=axes[r, 3], shrink=0.8, label="z")
        else:
            axes[r, 3].axis("off")
    fig.colorbar(im, ax=axes[:, :2], shrink=0.8, label="U₁")
    cap = ("Theory vs HMC: the order parameter from the minimised action (first column) and the posterior mean of "
           "the microscopic order parameter W_π·W_π'/w0 over the samples (second), on the same colour scale; third: "
           "entry by entry, with the Monte-Carlo standard error; fourth: z-scores (sampled − theory)/MCSE per entry. "
           "If the theory holds at this N and the chains have mixed, |z| is mostly below 2; a finite-size "
           "correction of the theory or unconverged chains show up as a pattern of large |z|.")
    return _save(fig, outdir, "u1_theory_vs_sampled", "Theory vs sampled U₁", cap)
