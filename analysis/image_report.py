#!/usr/bin/python3
"""attnpaths image report: the one-shot image experiment (theory, GP, sampling, GD network, pruning).

    /usr/bin/python3 analysis/image_report.py RESULTS_DIR -o REPORT_DIR

RESULTS_DIR is laid out as jobs/image_pipeline.sbatch and scripts/image.sh write it (docs/jobs.md):
theory/image.h5 (or theory/image/T*.h5), select/image.h5, samples/image_N<w>.h5, compare/image.h5,
prune/image.h5, train/model.h5. Writes REPORT_DIR/report.md with PNG and PDF figures; a figure whose
input is absent is reported as missing with the reason. Every number in a table is read from the HDF5
file named above it (tests/analysis/check_image_report.py checks them). docs/analysis.md explains it.
"""
from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from attnreport import files  # noqa: E402
from attnreport import image as I  # noqa: E402
from attnreport import image_figures as IF  # noqa: E402
from attnreport.markdown import MISSING, num, table  # noqa: E402
from report import Report, print_outcome  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="results directory")
    p.add_argument("-o", "--output", required=True, help="report directory (created)")
    p.add_argument("--name", default="image", help="experiment name: theory/NAME*, samples/NAME_N*.h5 [%(default)s]")
    p.add_argument("--selection", default=None, help="selection file, relative to RESULTS_DIR [select/NAME.h5]")
    p.add_argument("--prune", default=None, help="prune file, relative to RESULTS_DIR [prune/NAME.h5]")
    p.add_argument("--model", default=None, help="model file of `attnpaths train` [train/model.h5]")
    return p.parse_args(argv)


class ImageReport(Report):
    """Reuses report.Report's helpers (figure(), the jobs table, the appendix) for the image sections."""

    def __init__(self, args):
        super().__init__(args)
        self.args.samples = self.args.compare = None

    def load(self):
        a = self.args
        self.ir = I.load(self.results, a.name, a.selection, a.prune, a.model)
        self.main, self.samples, self.compare = self.ir.theory, self.ir.samples, self.ir.compare
        self.noisy, self.base, self.others = None, {"g": None, "gd": None}, []
        th = self.main
        if th is not None and self.ir.selection is None:   # `attnpaths theory` writes /selection itself
            self.ir.selection = I.load_selection(th.cell_file(0, 0))
            if self.ir.selection is not None:
                self.ir.selection_path = th.cell_file(0, 0)

    # ---- sections ----------------------------------------------------------------------------------
    def head(self):
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.w("# attnpaths report: the one-shot image experiment", "",
               f"Generated {now} on `{socket.gethostname()}` from `{self.results}` by `analysis/image_report.py`.",
               "Theory of Tiberi et al. (NeurIPS 2024) on the attention of a trained network (docs/model.md §5.2, §6). "
               "Every number in a table is read from the HDF5 file named above the table; docs/analysis.md explains "
               "each figure.", "")

    def inputs(self):
        ir = self.ir
        self.w("## Inputs", "")
        rows = []
        for what, path, ok in (("theory grid", self.src(self.main) if self.main else f"theory/{self.args.name}*",
                                self.main is not None),
                               ("temperature selection", self.relpath(ir.selection_path), ir.selection is not None),
                               ("posterior samples", ", ".join(self.relpath(s.path) for s in ir.samples) or
                                f"samples/{self.args.name}_N*.h5", bool(ir.samples)),
                               ("theory vs samples (`attnpaths compare`)",
                                ", ".join(self.relpath(c[0]) for c in ir.compare) or f"compare/{self.args.name}*.h5",
                                bool(ir.compare)),
                               ("head scores and pruning", self.relpath(ir.pruning_path), ir.pruning is not None),
                               ("GD network", self.relpath(ir.model_path), bool(ir.gd))):
            rows.append([what, f"`{path}`", "present" if ok else "**missing**"])
        self.w(*table("image-inputs", ".", ["input", "file", "state"], rows, align=[":--", ":--", ":--"]))
        self.jobs()

    def theory_accuracy_at(self, width, temperature):
        """The theory's test accuracy at (width, temperature) of the grid; NaN when not a grid point."""
        th = self.main
        it = files.temperature_index(th.temperatures, temperature) if th is not None else None
        hit = np.nonzero(th.widths == int(width))[0] if th is not None else []
        return self.ir.accuracy["test"][0][it, hit[0]] if it is not None and len(hit) else np.nan

    def relpath(self, p):
        return os.path.relpath(p, self.results)

    def selection_section(self):
        ir, th, sel = self.ir, self.main, self.ir.selection
        self.w("## 1. Temperatures picked on the validation set", "")
        if th is None or not th.full or sel is None:
            self.w(f"**Missing**: {'no theory results' if th is None else 'no temperature selection'} "
                   f"(`{self.relpath(ir.selection_path)}`; `attnpaths select`).", "")
            return
        self.w(f"Validation set: `{sel.attrs.get('validation_set', '')}`. Rule: {sel.attrs.get('rule', '')}", "",
               f"Read from `{self.relpath(sel.path)}`; the accuracies are the theory file's at the picked "
               "temperature.", "")
        oods = [s for s in ir.sets if s.startswith("ood/")]
        rows = []
        for iw, N in enumerate(th.widths):
            it = IF.selected_index(ir, iw)
            vals = [ir.accuracy[s][0][it, iw] if it is not None else np.nan for s in ["validation", "test"] + oods]
            rows.append([num(N, "int"), num(th.temperatures[it], "exact") if it is not None else MISSING]
                        + [num(v, "pct") for v in vals])
        ig = IF.gp_index(ir)
        rows.append(["GP", num(sel.gp["temperature"], "exact")]
                    + [num(ir.accuracy[s][1][ig], "pct") if ig is not None else MISSING
                       for s in ["validation", "test"] + oods])
        self.w(*table("image-selection", self.relpath(sel.path),
                      ["N", "picked Temp", "validation acc.", "test acc."] + [f"{s} acc." for s in oods], rows))

    def accuracy_section(self):
        ir = self.ir
        self.w("## 2. Accuracy vs N, in and out of distribution", "")
        fig = self.figure(IF.accuracy_vs_n, ir, self.out)
        if fig is None:
            return
        th = self.main
        oods = [s for s in ir.sets if s.startswith("ood/")]
        samp = {s.width: s for s in ir.samples}
        rows = []
        for iw, N in enumerate(th.widths):
            row = [num(N, "int")]
            for s in ["test"] + oods:
                t, g = IF.at_selected(ir, s)
                row += [num(t[iw], "pct"), num(g, "pct"), num(100 * (t[iw] - g), "pts"), num(ir.gd.get(s), "pct")]
            row.insert(4, num(samp[int(N)].accuracy, "pct") if int(N) in samp else MISSING)
            rows.append(row)
        header = ["N", "theory test", "GP test", "theory − GP (points)", "sampled test", "GD test"]
        for s in oods:
            header += [f"theory {s}", f"GP {s}", "theory − GP (points)", f"GD {s}"]
        self.w("Accuracy (%) of the mean predictor at the picked temperatures (theory: each N its own; GP: its own), "
               "the sampled predictor (test set) and the GD network (reference, independent of N):", "")
        self.w(*table("image-accuracy", self.src(th), header, rows))

    def sampling_section(self):
        ir, th = self.ir, self.main
        self.w("## 3. Posterior sampling on the trained attention", "")
        if not ir.samples:
            self.w(f"**Missing**: no samples (`samples/{self.args.name}_N*.h5`; `attnpaths sample`).", "")
            return
        rows = []
        for s in ir.samples:
            d = s.diagnostics
            rhat = d.get("U1/rhat")
            ess = d.get("U1/ess_bulk")
            t_acc = self.theory_accuracy_at(s.width, s.temperature)
            rows.append([num(s.width, "int"), num(s.temperature, "exact"), num(s.chains, "int"), num(s.draws, "int"),
                         num(s.accuracy, "pct"), num(t_acc, "pct"),
                         num(100 * (s.accuracy - t_acc), "pts") if s.accuracy is not None else MISSING,
                         num(np.nanmax(rhat)) if rhat is not None else MISSING,
                         num(np.nanmin(ess)) if ess is not None else MISSING,
                         num(int(np.asarray(d.get("@passed", 0)).item()), "int")])
        self.w("Sampled vs theory test accuracy (%) at the same N and Temp; worst split-R̂ and bulk ESS over the "
               "entries of U₁; `passed` = every diagnostic within Stan's thresholds (docs/sampling.md).", "")
        self.w(*table("image-sampling", "samples", ["N", "Temp", "chains", "draws", "sampled acc.", "theory acc.",
                                                    "sampled − theory (points)", "max R̂ U₁", "min bulk ESS U₁",
                                                    "passed"], rows))

    def u1_section(self):
        self.w("## 4. U₁: theory, sampled, GD", "")
        if self.figure(IF.u1_maps, self.ir, self.out) is None:
            return
        for title, U, why in IF.u1_panels(self.ir):
            if U is None:
                self.w(f"* {title}: **missing** — {why}.")
        self.w("")

    def alignment_section(self):
        self.w("## 5. Kernel–label alignment, GP vs theory", "")
        self.figure(IF.alignment, self.ir, self.out)

    def pruning_section(self):
        ir, p = self.ir, self.ir.pruning
        self.w("## 6. Head scores and pruning", "")
        fig1 = self.figure(IF.head_scores, ir, self.out)
        fig2 = self.figure(IF.pruning_curve, ir, self.out)
        if p is None or (fig1 is None and fig2 is None):
            return
        src = self.relpath(p.path)
        self.w(f"Scores from the theory U₁ at N = {p.width}, Temp {num(p.temperature, 'exact')} "
               f"({p.temperature_rule}).", "")
        sets = ["test"] + [s for (side, s) in p.sides if side == "network" and s.startswith("ood/")]
        rows = []
        for (l, h) in np.asarray(p.order).reshape(-1, 2):
            row = [f"{l}:{h}", num(p.score[l - 1, h])]
            for s in sets:
                d = p.sides[("network", s)]
                row += [num(d["single"][l - 1, h], "pct"), num(100 * d["drop"][l - 1, h], "pts")]
            rows.append(row)
        header = ["head (layer:head)", "score"]
        for s in sets:
            header += [f"acc. without it, {s}", f"drop {s} (points)"]
        self.w("Heads in ascending score order; the GD network's accuracy (%) with that head alone removed:", "")
        self.w(*table("image-heads", src, header, rows))
        rows = []
        for s in sets:
            d = p.sides[("network", s)]
            for k in range(len(p.removed)):
                rows.append([s, num(p.removed[k], "int"), num(d["ascending"][k], "pct"), num(d["random_mean"][k], "pct"),
                             num(100 * d["random_std"][k], "pts"), num(d["descending"][k], "pct")])
        self.w("Progressive pruning (accuracy %, GD network); random: mean and standard deviation (points) over "
               f"{len(p.sides[('network', 'test')]['random'])} orders:", "")
        self.w(*table("image-pruning", src, ["set", "heads removed", "ascending score", "random mean", "random sd",
                                             "descending score"], rows,
                      align=[":--"] + ["---:"] * 5))

    def findings(self):
        """The paper's claims, checked on these results."""
        ir, th, rows = self.ir, self.main, []
        if th is not None and th.full and ir.selection is not None:
            for s in ["test"] + [x for x in ir.sets if x.startswith("ood/")]:
                t, g = IF.at_selected(ir, s)
                d = 100 * (t[0] - g)
                rows.append([f"theory − GP on {s} at N = {th.widths[0]} (points)", num(d, "pts"), "> 0",
                             "yes" if d > 0 else "no"])
        for s in ir.samples:
            if th is None or s.accuracy is None:
                continue
            t_acc = self.theory_accuracy_at(s.width, s.temperature)
            if not np.isfinite(t_acc):
                continue
            d = 100 * (s.accuracy - t_acc)
            passed = int(np.asarray(s.diagnostics.get("@passed", 0)).item()) == 1
            rows.append([f"sampled − theory test accuracy at N = {s.width} (points)", num(d, "pts"),
                         "\\|·\\| ≤ 3 with R̂ ≤ 1.01 (diagnostics passed)",
                         ("yes" if abs(d) <= 3 else "no") if passed else "no (sampler diagnostics failed)"])
        p = ir.pruning
        if p is not None and ("network", "test") in p.sides:
            d = p.sides[("network", "test")]
            rho = float(d["spearman"])
            rows.append(["Spearman ρ(score, single-head drop), test", num(rho), "> 0.5", "yes" if rho > 0.5 else "no"])
            order = np.asarray(p.order).reshape(-1, 2)
            low = sum(d["drop"][l - 1, h] for l, h in order[:2])
            high = sum(d["drop"][l - 1, h] for l, h in order[-2:])
            rows.append(["drop of the 2 lowest-score heads − drop of the 2 highest (points, summed singles)",
                         num(100 * (low - high), "pts"), "< 0", "yes" if low < high else "no"])
            asc, mean = d["ascending"][1:-1], d["random_mean"][1:-1]
            above = int(np.sum(asc >= mean))
            rows.append(["progressive: steps where score order ≥ mean random order", f"{above} of {len(asc)}",
                         "all", "yes" if above == len(asc) else "no"])
        self.w("## At a glance", "")
        if not rows:
            self.w("Not enough results for the acceptance checks.", "")
            return
        self.w("The paper's claims on these results (temperatures picked on the validation set):", "")
        self.w(*table("image-findings", ".", ["quantity", "value", "expected", "holds"], rows,
                      align=[":--", "---:", ":--", ":--"]))

    def run(self):
        os.makedirs(self.out, exist_ok=True)
        self.load()
        self.head()
        self.findings()
        self.inputs()
        self.selection_section()
        self.accuracy_section()
        self.sampling_section()
        self.u1_section()
        self.alignment_section()
        self.pruning_section()
        self.skipped_section()
        self.appendix()
        return self.write_markdown()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_outcome(ImageReport(args), "missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
