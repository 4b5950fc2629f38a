#!/usr/bin/python3
"""Checks the image report (analysis/image_report.py) against the HDF5 results (numbers re-derived
independently of the report code; dataset names from analysis/attnreport/files.py).

    check_image_report.py REPORT_DIR RESULTS_DIR [--figures a,b] [--skipped c,d] [--missing input,…]

As tests/analysis/check_report.py (whose PNG/PDF checks, number comparison and generic tables it reuses):
every table is re-derived here with h5py from the files (theory/image*, select/image.h5, samples/image_N*.h5,
prune/image.h5, train/model.h5) and every printed number must equal the file's value at the printed
precision; an unknown table is an error. --missing names the inputs the report must mark as missing.
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_report as C  # noqa: E402
from check_report import H5  # noqa: E402  (analysis/attnreport/files.py)
from check_report import fail, num_equal, strip_md  # noqa: E402


def pct(v):
    return None if v is None or not np.isfinite(v) else 100 * float(v)


class ImageChecker(C.Checker):
    def __init__(self, results):
        super().__init__(results)
        self.p = lambda *a: os.path.join(results, *a)
        files = [self.p("theory", "image.h5")] if os.path.isfile(self.p("theory", "image.h5")) else \
            sorted(glob.glob(self.p("theory", "image", "*.h5")))
        self.cells = {}   # (T, N) -> (file, it, iw)
        for f in files:
            with h5py.File(f, "r") as h:
                for it, T in enumerate(h[H5.THEORY_GRID["temperatures"]][()]):
                    for iw, N in enumerate(h[H5.THEORY_GRID["widths"]][()]):
                        self.cells[(float(T), int(N))] = (f, it, iw)
        sel = self.p("select", "image.h5")
        if not os.path.isfile(sel) and files:
            sel = files[0]
        self.sel = sel

    # ---- independent reads --------------------------------------------------------------------------
    def picked(self):
        """{N: Temp} and the GP's Temp from the selection group."""
        with h5py.File(self.sel, "r") as h:
            W, T = h[H5.SELECTION_KEYS["widths"]][()], h[H5.SELECTION_KEYS["theory_temperature"]][()]
            return {int(n): float(t) for n, t in zip(W, T)}, float(np.atleast_1d(h[H5.SELECTION_KEYS["gp_temperature"]][()])[0])

    def acc(self, set_name, T, N=None):
        """Theory accuracy at (T, N), or the GP's at T (N None), on a set."""
        g = "predictor" if set_name == "test" else f"predictor/{set_name}"
        if N is None:
            f, it, _ = next(v for k, v in self.cells.items() if np.isclose(k[0], T, rtol=1e-12))
            with h5py.File(f, "r") as h:
                return float(h[f"{g}/gp/accuracy"][it])
        key = next((k for k in self.cells if np.isclose(k[0], T, rtol=1e-12) and k[1] == N), None)
        if key is None:
            return None
        f, it, iw = self.cells[key]
        with h5py.File(f, "r") as h:
            return float(h[f"{g}/theory/accuracy"][it, iw])

    def gd(self, set_name):
        with h5py.File(self.p("train", "model.h5"), "r") as h:
            return float(h[f"evaluation/{set_name}"].attrs["accuracy"])

    def sample(self, N):
        with h5py.File(self.p("samples", f"image_N{N}.h5"), "r") as h:
            d = h["diagnostics"]
            return {"T": float(h[H5.CONFIG].attrs["temperature"]), "chains": int(h[H5.SAMPLES_KEYS["U1_draws"]].shape[0]),
                    "draws": int(h[H5.SAMPLES_KEYS["U1_draws"]].shape[1]), "acc": float(h[H5.SAMPLES_KEYS["accuracy"]][()]),
                    "rhat": float(np.nanmax(d["U1/rhat"][()])), "ess": float(np.nanmin(d["U1/ess_bulk"][()])),
                    "passed": int(d.attrs["passed"])}

    def prune(self):
        return h5py.File(self.p("prune", "image.h5"), "r")

    # ---- tables -------------------------------------------------------------------------------------
    def t_image_inputs(self, tid, src, header, rows):
        for r in rows:
            pattern = strip_md(r[1])
            present = any(os.path.isfile(x) for part in pattern.split(", ") for x in glob.glob(self.p(part)))
            present = present or (r[0] == "theory grid" and bool(self.cells))
            want = "present" if present else "**missing**"
            if r[0] == "GD network" and present:
                with h5py.File(self.p(pattern), "r") as h:
                    want = "present" if "evaluation" in h else "**missing**"
            C.CHECKED["strings"] += 1
            if r[2] != want:
                fail(f"{tid}: {r[0]} printed '{r[2]}', the results directory says '{want}'")

    def t_image_selection(self, tid, src, header, rows):
        picks, gp_t = self.picked()
        sets = ["validation", "test"] + [h[:-5] for h in header[4:]]
        for r in rows:
            if r[0] == "GP":
                num_equal(f"{tid}/GP/Temp", r[1], gp_t)
                for s, cell in zip(sets, r[2:]):
                    num_equal(f"{tid}/GP/{s}", cell, pct(self.acc(s, gp_t)))
                continue
            N = int(r[0])
            num_equal(f"{tid}/{N}/Temp", r[1], picks[N])
            for s, cell in zip(sets, r[2:]):
                num_equal(f"{tid}/{N}/{s}", cell, pct(self.acc(s, picks[N], N)))
        if len(rows) != len(picks) + 1:
            fail(f"{tid}: {len(rows)} rows for {len(picks)} widths + the GP")

    def t_image_accuracy(self, tid, src, header, rows):
        picks, gp_t = self.picked()
        oods = [h[len("theory "):] for h in header if h.startswith("theory ood/")]
        samples = {int(os.path.basename(f)[len("image_N"):-3]): f for f in glob.glob(self.p("samples", "image_N*.h5"))}
        for r in rows:
            N = int(r[0])
            w = f"{tid}/{N}"
            cells = r[1:4] + r[5:]
            for k, s in enumerate(["test"] + oods):
                t, g = self.acc(s, picks[N], N), self.acc(s, gp_t)
                num_equal(f"{w}/{s}/theory", cells[4 * k], pct(t))
                num_equal(f"{w}/{s}/gp", cells[4 * k + 1], pct(g))
                num_equal(f"{w}/{s}/theory-gp", cells[4 * k + 2], 100 * (t - g))
                num_equal(f"{w}/{s}/gd", cells[4 * k + 3], pct(self.gd(s)))
            num_equal(f"{w}/sampled", r[4], pct(self.sample(N)["acc"]) if N in samples else None)

    def t_image_sampling(self, tid, src, header, rows):
        for r in rows:
            N = int(r[0])
            s = self.sample(N)
            w = f"{tid}/{N}"
            num_equal(w + "/T", r[1], s["T"])
            num_equal(w + "/chains", r[2], s["chains"])
            num_equal(w + "/draws", r[3], s["draws"])
            num_equal(w + "/acc", r[4], pct(s["acc"]))
            t = self.acc("test", s["T"], N)
            num_equal(w + "/theory", r[5], pct(t))
            num_equal(w + "/diff", r[6], None if t is None else 100 * (s["acc"] - t))
            num_equal(w + "/rhat", r[7], s["rhat"])
            num_equal(w + "/ess", r[8], s["ess"])
            num_equal(w + "/passed", r[9], s["passed"])

    def t_image_heads(self, tid, src, header, rows):
        with self.prune() as h:
            order = h[H5.PRUNE_KEYS["order"]][()].reshape(-1, 2)
            score = h[H5.PRUNE_KEYS["score"]][()]
            sets = [c[len("drop "):-len(" (points)")] for c in header if c.startswith("drop ")]
            if len(rows) != len(order):
                fail(f"{tid}: {len(rows)} rows for {len(order)} heads")
            for r, (l, hd) in zip(rows, order):
                C.CHECKED["strings"] += 1
                if r[0] != f"{l}:{hd}":
                    fail(f"{tid}: head {r[0]} where /heads/order has {l}:{hd}")
                num_equal(f"{tid}/{r[0]}/score", r[1], score[l - 1, hd])
                for k, s in enumerate(sets):
                    g = h[f"pruning/network/{s}"]
                    num_equal(f"{tid}/{r[0]}/{s}/single", r[2 + 2 * k], pct(g["single"][l - 1, hd]))
                    num_equal(f"{tid}/{r[0]}/{s}/drop", r[3 + 2 * k], 100 * g["drop"][l - 1, hd])

    def t_image_pruning(self, tid, src, header, rows):
        with self.prune() as h:
            removed = h[H5.PRUNE_KEYS["removed"]][()]
            for r in rows:
                g = h[f"pruning/network/{r[0]}"]
                k = int(np.nonzero(removed == int(r[1]))[0][0])
                rnd = g["random"][()][:, k]
                w = f"{tid}/{r[0]}/{r[1]}"
                num_equal(w + "/ascending", r[2], pct(g["ascending"][k]))
                num_equal(w + "/random mean", r[3], 100 * rnd.mean())
                num_equal(w + "/random sd", r[4], 100 * rnd.std(ddof=1))
                num_equal(w + "/descending", r[5], pct(g["descending"][k]))

    def t_image_findings(self, tid, src, header, rows):
        for r in rows:
            q, w = r[0], f"{tid}/{r[0]}"
            if q.startswith("theory − GP on "):
                s, N = q[len("theory − GP on "):].split(" at N = ")
                N = int(N.split(" ")[0])
                picks, gp_t = self.picked()
                d = 100 * (self.acc(s, picks[N], N) - self.acc(s, gp_t))
                num_equal(w, r[1], d)
                self.holds(w, r[3], d > 0)
            elif q.startswith("sampled − theory"):
                N = int(q.split("N = ")[1].split(" ")[0])
                s = self.sample(N)
                d = 100 * (s["acc"] - self.acc("test", s["T"], N))
                num_equal(w, r[1], d)
                self.holds(w, r[3], abs(d) <= 3 and s["passed"] == 1)
            elif q.startswith("Spearman"):
                with self.prune() as h:
                    g = h[H5.PRUNE_KEYS["pruning"] + "/network/test"]
                    rho = float(g["spearman"][()])
                    # independently: Spearman of the scores and drops of the removable heads
                    from scipy.stats import spearmanr
                    ok = np.isfinite(g["drop"][()]) & np.isfinite(h[H5.PRUNE_KEYS["score"]][()])
                    mine = spearmanr(h[H5.PRUNE_KEYS["score"]][()][ok], g["drop"][()][ok]).correlation
                    if abs(mine - rho) > 1e-9:
                        fail(f"{w}: the prune file's Spearman {rho} != {mine} recomputed from its scores and drops")
                num_equal(w, r[1], rho)
                self.holds(w, r[3], rho > 0.5)
            elif q.startswith("drop of the 2 lowest"):
                with self.prune() as h:
                    order = h[H5.PRUNE_KEYS["order"]][()].reshape(-1, 2)
                    drop = h[H5.PRUNE_KEYS["pruning"] + "/network/test/drop"][()]
                    low = sum(drop[l - 1, hd] for l, hd in order[:2])
                    high = sum(drop[l - 1, hd] for l, hd in order[-2:])
                num_equal(w, r[1], 100 * (low - high))
                self.holds(w, r[3], low < high)
            elif q.startswith("progressive"):
                with self.prune() as h:
                    g = h[H5.PRUNE_KEYS["pruning"] + "/network/test"]
                    asc, mean = g["ascending"][()][1:-1], g["random"][()].mean(axis=0)[1:-1]
                above = int(np.sum(asc >= mean - 1e-12))
                C.CHECKED["strings"] += 1
                if r[1] != f"{above} of {len(asc)}":
                    fail(f"{w}: printed {r[1]!r}, the file gives {above} of {len(asc)}")
                self.holds(w, r[3], above == len(asc))
            else:
                fail(f"{w}: unknown finding")

    def holds(self, where, cell, ok):
        C.CHECKED["strings"] += 1
        if cell.startswith("no (sampler"):
            return
        if cell != ("yes" if ok else "no"):
            fail(f"{where}: 'holds' printed {cell!r}, the files say {'yes' if ok else 'no'}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("results")
    p.add_argument("--figures", default="")
    p.add_argument("--skipped", default="")
    p.add_argument("--missing", default="", help="inputs (first column of the inputs table) reported missing")
    a = p.parse_args()
    md_path = os.path.join(a.report, "report.md")
    if not os.path.isfile(md_path):
        print(f"check_image_report: {md_path} missing")
        return 1
    md = open(md_path).read()
    shown = C.check_figures(md, a.report, a.figures, a.skipped)
    tables = C.parse_tables(md)
    ck = ImageChecker(os.path.abspath(a.results))
    for tid, src, header, rows in tables:
        if tid == "image-inputs":
            missing = {r[0] for r in rows if r[2] == "**missing**"}
            want = set(filter(None, a.missing.split(",")))
            if missing != want:
                fail(f"inputs reported missing: {sorted(missing)}, expected {sorted(want)}")
        try:
            ck.check(tid, src, header, rows)
        except Exception as e:  # a lookup that fails is a report/file mismatch
            fail(f"table '{tid}': cannot verify ({type(e).__name__}: {e})")
    print(f"check_image_report: {len(shown)} figures, {C.CHECKED['tables']} tables, {C.CHECKED['numbers']} numbers "
          f"and {C.CHECKED['strings']} strings checked against {a.results}")
    if C.FAILURES:
        for f in C.FAILURES:
            print("FAIL:", f)
        return 1
    print("check_image_report: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
