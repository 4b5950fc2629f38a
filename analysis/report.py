#!/usr/bin/python3
"""attnpaths report: figures and tables of the theory (and samples) of any task, from a results directory.

    /usr/bin/python3 analysis/report.py RESULTS_DIR -o REPORT_DIR

RESULTS_DIR is laid out as the jobs write it (docs/jobs.md): theory/<name>.h5 or theory/<name>/N*_T*.h5,
samples/<name>_N<w>.h5, compare/<name>.h5. The title and the path labels come from the files; the paper's
Markov-task claims are checked only when the dataset is that task with its path labels. Writes REPORT_DIR/report.md with PNG and PDF figures next to
it; a figure whose inputs are absent is skipped with a note. Needs numpy, h5py and matplotlib only.
docs/analysis.md explains every figure and table.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import os
import platform
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from attnreport import figures as F  # noqa: E402
from attnreport import files  # noqa: E402
from attnreport import results as R  # noqa: E402
from attnreport import robustness as RB  # noqa: E402
from attnreport.markdown import MISSING, num, table, value  # noqa: E402


def rel(path, base):
    return os.path.relpath(path, base)


def read_marker(path):
    """key=value lines of a job's exit marker (jobs/lib/common.sh)."""
    out = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.strip().partition("=")
            if sep:
                out[k] = v
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="results directory (theory/, samples/, compare/ inside)")
    p.add_argument("-o", "--output", required=True, help="report directory (created)")
    p.add_argument("--main", default="markov4", help="main experiment name [%(default)s]")
    p.add_argument("--noisy", default="markov2_noisy", help="noisier 2-path experiment name [%(default)s]")
    p.add_argument("--gp-g", default="markov_g", help="GP-only baseline with g alone [%(default)s]")
    p.add_argument("--gp-gd", default="markov_gd", help="GP-only baseline with g + d [%(default)s]")
    p.add_argument("--samples", default=None,
                   help="glob (relative to RESULTS_DIR) of the main experiment's sample files [samples/MAIN_N*.h5]")
    p.add_argument("--compare", default=None,
                   help="glob of the `attnpaths compare` files [compare/MAIN*.h5]")
    p.add_argument("--temperature", type=float, default=None,
                   help="temperature shown in the heat maps and U_1 tables [the sampling temperature, "
                        "else the smallest]")
    p.add_argument("--robustness", default=None,
                   help="an `attnpaths robustness` file: adds the robustness section (docs/robustness.md)")
    return p.parse_args(argv)


class Report:
    def __init__(self, args):
        self.args = args
        self.results = os.path.abspath(args.results)
        self.out = os.path.abspath(args.output)
        self.lines = []
        self.skipped = []
        self.figures = []

    # ---- small helpers ---------------------------------------------------------------------------
    def w(self, *lines):
        self.lines.extend(lines)

    def src(self, th):
        return rel(th.source, self.results)

    def src_cell(self, th):
        """The source of a theory as a table cell: `file` (plus the group for a stored GP baseline)."""
        return f"`{self.src(th)}`" + (f" {th.group}" if th.group else "")

    def figure(self, fn, *a, **kw):
        try:
            fig = fn(*a, **kw)
        except F.Skip as e:
            self.skipped.append((fn.__name__, str(e)))
            self.w(f"> **Figure skipped** ({fn.__name__}): {e}.", "")
            return None
        self.figures.append(fig)
        png = rel(fig.png, self.out)
        pdf = rel(fig.pdf, self.out)
        self.w(f"![{fig.title}]({png})", "", f"*{fig.caption}* ([PDF]({pdf}))", "")
        return fig

    # ---- load --------------------------------------------------------------------------------------
    def load(self):
        a = self.args
        self.main = R.load_theory(self.results, a.main)
        self.noisy = R.load_theory(self.results, a.noisy)
        # GP baselines: separate GP-only runs (theory/<name>.h5), else /baselines/<key> of the main file
        # (attnpaths theory --gp-baseline g=… --gp-baseline g+d=…)
        self.base = {"g": R.load_theory(self.results, a.gp_g), "gd": R.load_theory(self.results, a.gp_gd)}
        for key, names in (("g", ("g",)), ("gd", ("gd", "g+d"))):
            for n in names:
                if self.base[key] is None:
                    self.base[key] = R.load_baseline(self.main, n)
        self.samples = R.load_samples(self.results, a.samples or f"samples/{a.main}_N*.h5")
        self.compare = R.load_compare(self.results, a.compare or f"compare/{a.main}*.h5")
        known = {a.main, a.noisy, a.gp_g, a.gp_gd}
        self.others = [n for n in R.theory_names(self.results) if n not in known]
        t = a.temperature
        if t is None and self.samples and np.isfinite(self.samples[0].temperature):
            t = self.samples[0].temperature
        if t is None and self.main is not None:
            t = float(np.min(self.main.temperatures))
        self.temperature = t

    def it(self, th):
        return F._temperature_index(th, self.temperature)

    # ---- sections ----------------------------------------------------------------------------------
    def markov(self, th, labels):
        """The paper's claims apply: `th` is the Markov task with exactly these path labels."""
        return th is not None and th.is_task(F.MARKOV_TASK, labels)

    def header(self):
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        ref = self.main if self.main is not None else self.noisy
        self.w(f"# attnpaths report: attention paths on the {F.task_title(ref)}", "",
               f"Generated {now} on `{socket.gethostname()}` from `{self.results}` by `analysis/report.py`.",
               "Theory of Tiberi et al. (NeurIPS 2024) (docs/model.md"
               + ("; the Markov experiments of its §5.1" if ref.task == F.MARKOV_TASK else "")
               + "). Figures are PNG (shown) and PDF (linked); every number in a table is read from the HDF5 file "
               "named above the table. docs/analysis.md explains each figure.", "")

    def summary(self):
        self.w("## What was run", "")
        rows = []
        def role(what, th):
            return what if th is None else f"{what}: {th.h_tot} paths ({', '.join(th.path_labels)})"
        markov = self.markov(self.main, F.MARKOV4_LABELS)
        roles = [(role("main", self.main), self.args.main, self.main)]
        if markov or self.noisy is not None:
            roles += [(role("noisier task" if self.markov(self.noisy, F.MARKOV2_LABELS) else "second experiment",
                            self.noisy), self.args.noisy, self.noisy)]
        if markov or self.base["g"] is not None or self.base["gd"] is not None:
            roles += [("GP baseline: g alone", self.args.gp_g, self.base["g"]),
                      ("GP baseline: g + d", self.args.gp_gd, self.base["gd"])]
        roles += [("other", n, R.load_theory(self.results, n)) for n in self.others]
        for role, name, th in roles:
            if th is None:
                rows.append([role, f"`{name}`", "absent", MISSING, MISSING, MISSING, MISSING, MISSING, MISSING])
                continue
            d = th.data_attrs
            kind = "theory + GP" if th.full else "GP only"
            rows.append([role, self.src_cell(th), kind, value(list(th.widths)) if th.full else MISSING,
                         value(list(th.temperatures)), num(d.get("P"), "int"), num(d.get("Q"), "int"),
                         value(th.path_labels), str(len(th.files))])
        self.w(*table("summary", ".", ["experiment", "source", "kind", "widths N", "temperatures T", "P", "Q",
                                       "paths", "files"], rows, align=[":--", ":--", ":--"] + ["---:"] * 6))
        if self.samples:
            srows = [[f"`{rel(s.path, self.results)}`", num(s.width, "int"), num(s.temperature, "exact"),
                      num(s.chains, "int"), num(s.draws, "int"), "yes" if s.complete else "NO (checkpoint pending)"]
                     for s in self.samples]
            self.w("Posterior samples (HMC/NUTS):", "")
            self.w(*table("samples-summary", "samples", ["file", "N", "T", "chains", "draws per chain", "complete"],
                          srows, align=[":--"] + ["---:"] * 4 + [":--"]))
        else:
            self.w("No posterior samples were found (`samples/` is empty): the sampled dots and the theory-vs-"
                   "samples comparison are skipped.", "")
        partial = sorted(glob.glob(os.path.join(self.results, "*", "*.partial")) +
                         glob.glob(os.path.join(self.results, "theory", "*", "*.partial")))
        if partial:
            self.w("Unfinished (still running, or checkpointed and waiting to be resumed; not used here): " +
                   ", ".join(f"`{rel(p, self.results)}`" for p in partial) + ".", "")
        self.jobs()

    def jobs(self):
        """The SLURM jobs that made these results, from the exit markers the job scripts write (logs/*.exit)."""
        markers = sorted(glob.glob(os.path.join(self.results, "logs", "*.exit")))
        if not markers:
            return
        rows = []
        for p in markers:
            kv = read_marker(p)
            rows.append([f"`{rel(p, self.results)}`", kv.get("stage", MISSING), kv.get("job", MISSING),
                         kv.get("array_task") or MISSING, kv.get("state", MISSING), kv.get("exit", MISSING),
                         kv.get("restart", MISSING), kv.get("end", MISSING)])
        self.w("SLURM jobs (exit markers written by the job scripts; `jobs/`, docs/jobs.md):", "")
        self.w(*table("jobs", "logs", ["marker", "stage", "job", "array task", "state", "exit", "restarts", "ended"],
                      rows, align=[":--", ":--", "---:", "---:", ":--", "---:", "---:", ":--"]))

    def findings(self):
        """The paper's claims, checked on these results (one row per claim)."""
        rows = []
        m = self.main
        if self.markov(m, F.MARKOV4_LABELS) and m.full and "accuracy" in m.theory and "accuracy" in m.gp:
            it = self.it(m)
            at = f"T = {num(m.temperatures[it], 'exact')}"
            acc, gp = m.theory["accuracy"][it], m.gp["accuracy"][it]
            d0, d1 = 100 * (acc[0] - gp), 100 * (acc[-1] - gp)
            rows.append([f"4 paths: theory − GP accuracy at N = {m.widths[0]}, {at} (points)", num(d0, "pts"),
                         "> 0 (paper: > 10)", "yes" if d0 > 0 else "no"])
            if len(m.widths) > 1:
                rows.append([f"4 paths: theory − GP accuracy at N = {m.widths[-1]}, {at} (points)", num(d1, "pts"),
                             "smaller than at the smallest N", "yes" if abs(d1) < abs(d0) else "no"])
            if "U1" in m.theory:
                U = m.theory["U1"][it, 0]
                lab = m.path_labels
                idx = {l: i for i, l in enumerate(lab)}
                if {"g", "d"} <= set(idx):
                    g, d = idx["g"], idx["d"]
                    rows.append([f"4 paths: U₁[g,g] at N = {m.widths[0]}, {at}", num(U[g, g]), "> 1 (amplified)",
                                 "yes" if U[g, g] > 1 else "no"])
                    rows.append([f"4 paths: U₁[d,d] at N = {m.widths[0]}, {at}", num(U[d, d]), "> 1 (amplified)",
                                 "yes" if U[d, d] > 1 else "no"])
                    rows.append([f"4 paths: U₁[g,d] at N = {m.widths[0]}, {at}", num(U[g, d]), "< 0 (negative cross term)",
                                 "yes" if U[g, d] < 0 else "no"])
                for a in ("a1", "a2"):
                    if a in idx:
                        v = U[idx[a], idx[a]]
                        rows.append([f"4 paths: U₁[{a},{a}] at N = {m.widths[0]}, {at}", num(v), "< 1 (suppressed)",
                                     "yes" if v < 1 else "no"])
        n = self.noisy
        if self.markov(n, F.MARKOV2_LABELS) and n.full and "accuracy_diagonal" in n.theory and "accuracy" in n.gp:
            it = self.it(n)
            at = f"T = {num(n.temperatures[it], 'exact')}"
            full = 100 * (n.theory["accuracy"][it, 0] - n.gp["accuracy"][it])
            diag = 100 * (n.theory["accuracy_diagonal"][it, 0] - n.gp["accuracy"][it])
            rows.append([f"2 paths, noisier: theory − GP at N = {n.widths[0]}, {at} (points)", num(full, "pts"), "> 0",
                         "yes" if full > 0 else "no"])
            rows.append([f"2 paths, noisier: diagonal-only − GP at N = {n.widths[0]}, {at} (points)", num(diag, "pts"),
                         "well below the full theory's gain", "yes" if diag < full else "no"])
        for s in self.samples:
            if m is None or not m.full or s.accuracy is None:
                continue
            hits = np.nonzero(m.widths == s.width)[0]
            if len(hits):
                it = F._temperature_index(m, s.temperature if np.isfinite(s.temperature) else None)
                dd = 100 * (s.accuracy - m.theory["accuracy"][it, hits[0]])
                # "agrees" needs the sampler's diagnostics to pass (/diagnostics@passed), not accuracy alone.
                passed = int(np.asarray(s.diagnostics.get("@passed", 0)).item()) == 1
                rows.append([f"sampled − theory accuracy at N = {s.width}, T = {num(s.temperature, 'exact')} (points)", num(dd, "pts"),
                             "\\|·\\| < 3 and diagnostics passed (samples agree with theory)",
                             ("yes" if abs(dd) < 3 else "no") if passed else "no (sampler diagnostics failed)"])
        self.w("## At a glance", "")
        if not rows:
            self.w("Not enough results for the summary checks.", "")
            return
        if self.markov(m, F.MARKOV4_LABELS):
            self.w("The paper's claims on the Markov task (docs/model.md §5.1), and the agreement of the samples "
                   "with the theory, checked on these results:", "")
        else:
            self.w("The agreement of the posterior samples with the theory, checked on these results (the paper's "
                   "Markov-task claims apply only to that task and are not checked here):", "")
        self.w(*table("findings", ".", ["quantity", "value", "expected", "holds"], rows,
                      align=[":--", "---:", ":--", ":--"]))

    def accuracy_section(self):
        m = self.main
        self.w(f"## 1. Accuracy vs width ({m.h_tot if m is not None else '?'} paths)", "")
        self.figure(F.accuracy_vs_width, m, self.base, self.samples, self.out, temperature=self.temperature)
        if m is None:
            return
        by_width = {s.width: s for s in self.samples}
        rows = []
        for it, T in enumerate(m.temperatures):
            gp = m.gp.get("accuracy", [np.nan] * len(m.temperatures))[it]
            for iw, N in enumerate(m.widths):
                th = m.theory
                acc = th["accuracy"][it, iw] if "accuracy" in th else np.nan
                s = by_width.get(int(N))
                samp = s.accuracy if (s is not None and R.same_temperature(s.temperature, T)) else None
                rows.append([num(N, "int"), num(T, "exact"), num(acc, "pct"), num(100 * (acc - gp), "pts"),
                             num(th["accuracy_diagonal"][it, iw], "pct") if "accuracy_diagonal" in th else MISSING,
                             num(gp, "pct"), num(samp, "pct"),
                             num(th["bias"][it, iw]) if "bias" in th else MISSING,
                             num(th["variance"][it, iw]) if "variance" in th else MISSING,
                             num(th["converged"][it, iw], "int") if "converged" in th else MISSING,
                             num(th["iterations"][it, iw], "int") if "iterations" in th else MISSING,
                             num(th["grad_max"][it, iw]) if "grad_max" in th else MISSING])
        self.w("Test accuracy (%) of the mean predictor; bias and variance of the generalisation error "
               "(docs/model.md §3.6); `converged` = 1 when the stopping rule max|∂S/∂U| < 1e-5 was met.", "")
        self.w(*table("accuracy-main", self.src(m),
                      ["N", "T", "theory acc.", "theory − GP (points)", "diagonal-only acc.", "GP acc.",
                       "sampled acc.", "bias", "variance", "converged", "iterations", "max \\|∂S/∂U\\|"], rows))
        rows = []
        sets = [("all", f"all {m.h_tot} paths", m)]
        if self.markov(m, F.MARKOV4_LABELS) or self.base["g"] is not None or self.base["gd"] is not None:
            sets += [("g", "g alone", self.base["g"]), ("gd", "g + d", self.base["gd"])]
        for key, label, th in sets:
            if th is None or "accuracy" not in th.gp:
                rows.append([label, MISSING, MISSING, MISSING, MISSING, "absent"])
                continue
            for it, T in enumerate(th.temperatures):
                rows.append([label, num(T, "exact"), num(th.gp["accuracy"][it], "pct"),
                             num(th.gp["bias"][it]) if "bias" in th.gp else MISSING,
                             num(th.gp["variance"][it]) if "variance" in th.gp else MISSING, self.src_cell(th)])
        self.w("GP (infinite-width) limit with different path sets:", "")
        self.w(*table("gp-baselines", ".", ["paths", "T", "GP acc.", "bias", "variance", "source"], rows,
                      align=[":--", "---:", "---:", "---:", "---:", ":--"]))

    def u1_section(self):
        m = self.main
        self.w("## 2. The path–path order parameter U₁", "")
        self.figure(F.u1_heatmaps, m, self.out, temperature=self.temperature)
        if m is None or not m.full or "U1" not in m.theory:
            return
        it = self.it(m)
        T = m.temperatures[it]
        for iw in F.pick_widths(m.widths, 4):
            N = m.widths[iw]
            U = m.theory["U1"][it, iw]
            rows = [[f"**{m.path_labels[i]}**"] + [num(U[i, j]) for j in range(U.shape[1])] for i in range(U.shape[0])]
            self.w(f"U₁ at N = {N}, T = {num(T, 'exact')}:", "")
            self.w(*table(f"u1-main N={N} T={num(T, 'exact')}", rel(m.cell_file(it, iw), self.results),
                          ["path"] + m.path_labels, rows, align=[":--"] + ["---:"] * len(m.path_labels)))

    def kernel_section(self):
        self.w("## 3. Path kernels, GP kernel and renormalised kernel", "")
        self.figure(F.kernels, self.main, self.out, temperature=self.temperature)

    def alignment_section(self):
        m = self.main
        self.w("## 4. Kernel–label alignment", "")
        fig = self.figure(F.alignment, m, self.out, temperature=self.temperature)
        if fig is None:
            return
        it = self.it(m)
        gp = m.alignment_gp[it]
        cols = [("GP", gp)]
        if m.alignment_theory is not None and m.full:
            iws = [0] if len(m.widths) == 1 else [0, F.pick_widths(m.widths, 3)[1]]
            cols += [(f"theory N={m.widths[iw]}", m.alignment_theory[it, iw]) for iw in iws]
        rows = [[str(k + 1)] + [num(c[1][k]) for c in cols] for k in range(len(gp))
                if any(np.isfinite(c[1][k]) for c in cols)]   # k beyond P has no eigenvector (NaN)
        self.w(f"Overlaps |v_k·y|/√P at T = {num(m.temperatures[it], 'exact')}:", "")
        self.w(*table(f"alignment T={num(m.temperatures[it], 'exact')}", self.src(m), ["k"] + [c[0] for c in cols],
                      rows))

    def noisy_section(self):
        n = self.noisy
        self.w("## 5. The noisier 2-path task: the cross-path term matters" if self.markov(n, F.MARKOV2_LABELS)
               else "## 5. Second experiment: full vs diagonal-only U₁", "")
        self.figure(F.accuracy_two_paths, n, self.out, temperature=self.temperature)
        if n is None or not n.full:
            return
        rows = []
        for it, T in enumerate(n.temperatures):
            gp = n.gp.get("accuracy", [np.nan] * len(n.temperatures))[it]
            for iw, N in enumerate(n.widths):
                th = n.theory
                acc = th["accuracy"][it, iw]
                dg = th["accuracy_diagonal"][it, iw] if "accuracy_diagonal" in th else np.nan
                U = th["U1"][it, iw] if "U1" in th else None
                rows.append([num(N, "int"), num(T, "exact"), num(acc, "pct"), num(dg, "pct"), num(gp, "pct"),
                             num(100 * (acc - dg), "pts"),
                             num(U[0, 1]) if U is not None and U.shape[0] > 1 else MISSING,
                             num(th["converged"][it, iw], "int") if "converged" in th else MISSING])
        self.w(*table("accuracy-noisy", self.src(n),
                      ["N", "T", "theory acc.", "diagonal-only acc.", "GP acc.", "theory − diagonal (points)",
                       f"U₁[{n.path_labels[0]},{n.path_labels[1] if n.h_tot > 1 else ''}]", "converged"], rows))

    def sampling_section(self):
        m = self.main
        self.w("## 6. Theory vs posterior sampling", "")
        self.figure(F.u1_theory_vs_sampled, m, self.samples, self.out)
        if not self.samples:
            return
        rows = []
        for s in self.samples:
            d = s.diagnostics
            rhat = [np.nanmax(np.asarray(v, float)) for k, v in d.items()
                    if k.split("/")[-1].startswith("rhat") and np.size(v)]
            ess = [np.nanmin(np.asarray(v, float)) for k, v in d.items()
                   if k.split("/")[-1].startswith("ess_bulk") and np.size(v)]
            div = [np.nansum(np.asarray(v, float)) for k, v in d.items()
                   if k.split("/")[-1].startswith("divergen") and np.size(v)]
            acc_th = MISSING
            if m is not None and m.full:
                hits = np.nonzero(m.widths == s.width)[0]
                if len(hits):
                    it = F._temperature_index(m, s.temperature)
                    acc_th = num(m.theory["accuracy"][it, hits[0]], "pct")
            rows.append([num(s.width, "int"), num(s.temperature, "exact"), num(s.chains, "int"), num(s.draws, "int"),
                         num(s.accuracy, "pct"), acc_th, num(max(rhat)) if rhat else MISSING,
                         num(min(ess)) if ess else MISSING, num(sum(div), "int") if div else MISSING])
        self.w("Sampled accuracy is that of the posterior-mean predictor; R̂ (split, rank-normalised) and bulk ESS "
               "are the worst over all observables.", "")
        self.w(*table("sampling", "samples", ["N", "T", "chains", "draws", "sampled acc.", "theory acc.", "max R̂",
                                              "min bulk ESS", "divergences"], rows))
        for s in self.samples:
            if m is None or not m.full or s.u1_mean is None:
                continue
            hits = np.nonzero(m.widths == s.width)[0]
            if not len(hits):
                continue
            it = F._temperature_index(m, s.temperature)
            U = m.theory["U1"][it, hits[0]]
            rows = []
            lab = s.path_labels if len(s.path_labels) == U.shape[0] else m.path_labels
            for i in range(U.shape[0]):
                for j in range(i, U.shape[1]):
                    mc = s.u1_mcse[i, j] if s.u1_mcse is not None else np.nan
                    z = (s.u1_mean[i, j] - U[i, j]) / mc if mc > 0 else np.nan
                    rows.append([f"{lab[i]}–{lab[j]}", num(U[i, j]), num(s.u1_mean[i, j]), num(mc), num(z)])
            self.w(f"U₁ entries at N = {s.width}: theory vs sampled mean (± Monte-Carlo standard error), and the "
                   "z-score (sampled − theory)/MCSE (|z| ≲ 2 when they agree):", "")
            self.w(*table(f"u1-sampled N={s.width}", rel(s.path, self.results),
                          ["paths", "theory", "sampled", "MCSE", "z"], rows,
                          align=[":--", "---:", "---:", "---:", "---:"]))
        rows = []
        for path, rec, flat in self.compare:
            W = flat.get(files.COMPARE_KEYS["widths"])
            if W is None:
                continue
            T = flat.get(files.COMPARE_KEYS["temperatures"], np.full(len(W), np.nan))
            for i, N in enumerate(np.atleast_1d(W)):
                g = lambda k: (np.atleast_1d(flat[files.COMPARE_KEYS[k]])[i]  # noqa: E731
                               if files.COMPARE_KEYS[k] in flat else None)
                rows.append([f"`{rel(path, self.results)}`", num(N, "int"), num(np.atleast_1d(T)[i], "exact"),
                             num(g("accuracy/theory"), "pct"), num(g("accuracy/sampled"), "pct"),
                             num(g("accuracy/gp"), "pct"), num(g("predictor/mean_correlation")),
                             num(g("predictor/variance_ratio")), num(g("rhat/U1")), num(g("rhat/predictor"))])
        if rows:
            self.w("`attnpaths compare` (theory vs samples per width): accuracies, the correlation of the theory and "
                   "sampled mean predictors over the test set, the ratio of sampled to theory predictor variance, "
                   "and the worst R̂:", "")
            self.w(*table("compare", "compare", ["file", "N", "T", "theory acc.", "sampled acc.", "GP acc.",
                                                 "corr(mean f)", "var ratio s/t", "R̂ U₁", "R̂ f"], rows,
                          align=[":--"] + ["---:"] * 9))

    def appendix(self):
        self.w("## Appendix: options and provenance", "",
               "The resolved options (`/config`) and the provenance (`/provenance`, with the per-stage timing "
               "table) of every file the report read.", "")
        seen = []
        sources = [th for th in [self.main, self.noisy, self.base["g"], self.base["gd"]] if th is not None]
        sources += [x for x in (R.load_theory(self.results, n) for n in self.others) if x is not None]
        recs = [r for th in sources for r in th.files] + [s.record for s in self.samples]
        recs += [r for _, r, _ in self.compare]
        for rec in recs:
            if rec.path in seen:
                continue
            seen.append(rec.path)
            rp = rel(rec.path, self.results)
            prov = rec.provenance
            brief = ", ".join(str(prov[k]) for k in ("attnpaths_version", "git_commit") if k in prov)
            self.w("<details>", f"<summary><code>{rp}</code> ({rec.format or 'unknown format'}"
                   f"{'; ' + brief if brief else ''})</summary>", "")
            for kind, group, title, items in (("config", "/config", "option (/config)", rec.config),
                                              ("provenance", "/provenance", "provenance", prov)):
                if items:
                    self.w(*table(f"{kind} {rp}", rp, [title, "value"],
                                  [[f"`{k}`", value(v)] for k, v in items.items()], align=[":--", ":--"]))
                else:
                    self.w(f"(no {group} attributes in this file)", "")
            if rec.timing:
                self.w(*table(f"timing {rp}", rp, ["stage", "seconds", "calls"],
                              [[str(st), num(sec, "exact"), num(c, "int")] for st, sec, c in rec.timing],
                              align=[":--", "---:", "---:"]))
            self.w("</details>", "")
        files = sorted(glob.glob(os.path.join(self.results, "config", "*.toml")))
        files += [p for p in [os.path.join(self.results, "config", "plan.env")] if os.path.isfile(p)]
        for p in files:
            label = "Pipeline plan" if p.endswith(".env") else "Options file the jobs used"
            self.w(f"{label}, `{rel(p, self.results)}` (verbatim):", "", "```", open(p).read().rstrip(), "```", "")
        self.w("This report: " + ", ".join([
            f"Python {platform.python_version()}", f"numpy {np.__version__}", f"h5py {h5py.__version__}",
            f"matplotlib {matplotlib.__version__}"]) + ".", "",
            "Command: `" + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]) + "`", "")

    def skipped_section(self):
        if not self.skipped:
            return
        self.w("## Skipped figures", "")
        for name, why in self.skipped:
            self.w(f"* `{name}`: {why}.")
        self.w("")

    def run(self):
        os.makedirs(self.out, exist_ok=True)
        self.load()
        if self.main is None and self.noisy is None:
            raise SystemExit(f"report.py: no theory results in {self.results}/theory "
                             f"(expected {self.args.main}.h5 or {self.args.main}/N*_T*.h5; see docs/jobs.md)")
        self.header()
        self.findings()
        self.summary()
        self.accuracy_section()
        self.u1_section()
        self.kernel_section()
        self.alignment_section()
        if self.noisy is not None or self.markov(self.main, F.MARKOV4_LABELS):
            self.noisy_section()
        self.sampling_section()
        if self.args.robustness:
            RB.section(self, os.path.abspath(self.args.robustness))
        self.skipped_section()
        self.appendix()
        return self.write_markdown()

    def write_markdown(self):
        """Writes report.md from the accumulated lines; returns its path."""
        path = os.path.join(self.out, "report.md")
        with open(path, "w") as f:
            f.write("\n".join(self.lines).rstrip() + "\n")
        return path


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_outcome(Report(args), "skipped")
    return 0


def print_outcome(rep, missing_label):
    """Runs the report `rep` and prints where it went, its figures and what it left out."""
    path = rep.run()
    print(f"report: {path}")
    print(f"  {len(rep.figures)} figures ({', '.join(f.stem for f in rep.figures)}) as PNG and PDF in {rep.out}")
    for name, why in rep.skipped:
        print(f"  {missing_label} {name}: {why}")


if __name__ == "__main__":
    sys.exit(main())
