#!/usr/bin/python3
"""Checks an attnpaths report against the HDF5 results it was made from (every number re-derived independently of
the report code; the dataset names come from analysis/attnreport/files.py, the one description of the format).

    check_report.py REPORT_DIR RESULTS_DIR [--figures a,b,...] [--skipped c,d,...] [--min-tables N]

* every image the report links exists and is a valid PNG (signature, IHDR with correct CRC, IEND,
  non-trivial size) with a PDF next to it (%PDF- header, %%EOF trailer);
* the figures named in --figures are shown, those in --skipped are skipped with a note;
* every table (marked <!-- table:ID source:PATH -->) is re-derived from the HDF5 files with h5py: every
  number printed must equal the file's value at the printed precision; a table this checker does not
  know is an error, so nothing in the report goes unchecked.
Exit 0 when everything holds; otherwise prints every failure and exits 1.
"""
import argparse
import glob
import math
import os
import re
import struct
import sys
import zlib

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))
from attnreport import files as H5  # noqa: E402  (the dataset names)
from attnreport.files import same_temperature  # noqa: E402  (the one temperature-matching rule)

FAILURES = []
CHECKED = {"numbers": 0, "strings": 0, "tables": 0}


def fail(msg):
    FAILURES.append(msg)


# ------------------------------------------------------------------------------------------------
# images
def check_png(path, min_w=300, min_h=200):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return fail(f"{path}: not a PNG (bad signature)")
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        return fail(f"{path}: first chunk is {ctype!r}, not a 13-byte IHDR")
    ihdr = data[16:29]
    crc = struct.unpack(">I", data[29:33])[0]
    if zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF != crc:
        return fail(f"{path}: IHDR CRC mismatch")
    w, h, depth, color, comp, filt, inter = struct.unpack(">IIBBBBB", ihdr)
    if depth not in (1, 2, 4, 8, 16) or color not in (0, 2, 3, 4, 6) or comp or filt or inter > 1:
        return fail(f"{path}: invalid IHDR fields {depth, color, comp, filt, inter}")
    if w < min_w or h < min_h:
        return fail(f"{path}: image too small ({w}x{h})")
    if data[-12:-8] != b"\x00\x00\x00\x00" or data[-8:-4] != b"IEND":
        return fail(f"{path}: no IEND chunk at the end (truncated?)")
    # walk the chunks: every CRC must match and there must be image data
    pos, idat = 8, 0
    while pos < len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(t + body) & 0xFFFFFFFF != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            return fail(f"{path}: CRC mismatch in chunk {t!r}")
        idat += n if t == b"IDAT" else 0
        pos += 12 + n
    if idat < 2000:
        return fail(f"{path}: almost no image data ({idat} bytes): blank figure?")
    return (w, h)


def check_pdf(path):
    if not os.path.isfile(path):
        return fail(f"{path}: missing")
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-64:] or len(data) < 2000:
        fail(f"{path}: not a complete PDF")


# ------------------------------------------------------------------------------------------------
# number comparison at printed precision
def tolerance(s):
    s = s.strip().lstrip("+-")
    m = re.fullmatch(r"(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", s)
    if not m:
        return None
    dec = len(m.group(2) or "")
    exp = int(m.group(3) or 0)
    return 0.5 * 10.0 ** (exp - dec)


def num_equal(where, cell, expected):
    CHECKED["numbers"] += 1
    cell = cell.strip()
    missing = expected is None or (isinstance(expected, float) and not math.isfinite(expected))
    if cell == "—":
        if not missing:
            fail(f"{where}: printed '—' but the file has {expected!r}")
        return
    if missing:
        return fail(f"{where}: printed {cell!r} but the file has no value")
    tol = tolerance(cell)
    if tol is None:
        return fail(f"{where}: {cell!r} is not a number")
    v = float(cell)
    if abs(v - float(expected)) > tol * (1 + 1e-9) + 1e-12 * abs(float(expected)):
        fail(f"{where}: printed {cell} but the file gives {float(expected)!r}")


def text(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [text(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [text(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def attr_equal(where, cell, v):
    """A printed attribute value against the file's attribute (strings exactly, numbers exactly)."""
    v = text(v)
    cell = cell.strip().replace("\\|", "|")
    items = v if isinstance(v, list) else [v]
    parts = cell.split(", ") if isinstance(v, list) else [cell]
    if isinstance(v, list) and len(items) == 0:
        parts = [] if cell == "" else parts
    if len(parts) != len(items):
        return fail(f"{where}: printed {cell!r} but the file has {v!r}")
    for p, x in zip(parts, items):
        if isinstance(x, (bool, int, float)) and not isinstance(x, str):
            CHECKED["numbers"] += 1
            try:
                ok = float(p) == float(x) or (math.isnan(float(x)) and p.strip() == "nan")
            except ValueError:
                ok = False
            if not ok:
                fail(f"{where}: printed {p!r} but the file has {x!r}")
        else:
            CHECKED["strings"] += 1
            if p.strip() != str(x).replace("\n", " ").strip():
                fail(f"{where}: printed {p!r} but the file has {x!r}")


# ------------------------------------------------------------------------------------------------
# reading results (plain h5py)
class Theory:
    """A theory source: one file, or a directory of per-cell files; values looked up by (N, T)."""

    def __init__(self, results, src):
        self.src = src
        path = os.path.join(results, src)
        files = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(path, "*.h5")))
        if not files:
            raise FileNotFoundError(path)
        self.files = files
        self.cells = {}   # (N, T) -> (file, it, iw)
        self.gp_t = {}    # T -> (file, it) of the first file
        self.gp_all = {}  # T -> [(file, it)] of every file (cells must agree on T-only quantities)
        for f in files:
            with h5py.File(f, "r") as h:
                if H5.THEORY_GRID["widths"] in h:
                    W = h[H5.THEORY_GRID["widths"]][()]
                    T = h[H5.THEORY_GRID["temperatures"]][()]
                else:
                    W = np.atleast_1d(text(h[H5.CONFIG].attrs.get("widths", [])))
                    T = np.atleast_1d(text(h[H5.CONFIG].attrs["temperatures"]))
                for it, t in enumerate(T):
                    self.gp_t.setdefault(float(t), (f, it))
                    self.gp_all.setdefault(float(t), []).append((f, it))
                    for iw, w in enumerate(W):
                        self.cells[(int(w), float(t))] = (f, it, iw)

    def t_key(self, T):
        for t in self.gp_t:
            if same_temperature(t, T):
                return t
        raise KeyError(f"temperature {T} not in {self.src}")

    def grid(self, dset, N, T):
        f, it, iw = self.cells[(int(N), self.t_key(T))]
        with h5py.File(f, "r") as h:
            if dset not in h:
                return None
            return h[dset][it, iw]

    def gp(self, dset, T):
        """A temperature-only quantity (GP predictor, GP alignment); every cell file must agree."""
        vals = []
        for f, it in self.gp_all[self.t_key(T)]:
            with h5py.File(f, "r") as h:
                vals.append(h[dset][it] if dset in h else None)
        for v in vals[1:]:
            if (v is None) != (vals[0] is None) or (v is not None and not np.allclose(v, vals[0], rtol=1e-12, atol=0, equal_nan=True)):
                fail(f"{self.src}: {dset} differs between the cell files of T={T}")
                break
        return vals[0]

    def first(self, dset):
        with h5py.File(self.files[0], "r") as h:
            return h[dset][()] if dset in h else None

    def attrs(self, group):
        with h5py.File(self.files[0], "r") as h:
            return {k: text(v) for k, v in h[group].attrs.items()} if group in h else {}

    def labels(self):
        return [str(x) for x in np.atleast_1d(self.attrs(H5.DATA).get("path_labels", []))]


SAMPLE_FILES = {}   # width -> sample file, from the report's samples-summary table (itself checked)


def samples_file(results, main_src, N):
    return SAMPLE_FILES.get(int(N))


def sample_values(path):
    with h5py.File(path, "r") as h:
        cfg = {k: text(v) for k, v in h[H5.CONFIG].attrs.items()}
        out = {"T": float(cfg.get("temperature", np.nan)), "chains": int(cfg.get("chains", h[H5.SAMPLES_KEYS["U1_draws"]].shape[0])),
               "draws": int(h[H5.SAMPLES_KEYS["U1_draws"]].shape[1]),
               "acc": float(h[H5.SAMPLES_KEYS["accuracy"]][()]) if H5.SAMPLES_KEYS["accuracy"] in h else None,
               "u1": h[H5.SAMPLES_KEYS["U1_mean"]][()] if H5.SAMPLES_KEYS["U1_mean"] in h else None,
               "mcse": h[H5.SAMPLES_KEYS["U1_mcse"]][()] if H5.SAMPLES_KEYS["U1_mcse"] in h else None,
               "rhat": [], "ess": [], "div": []}

        def visit(name, obj):
            leaf = name.split("/")[-1]
            if isinstance(obj, h5py.Dataset) and obj.size:
                v = np.asarray(obj[()], float)
                if leaf.startswith("rhat"):
                    out["rhat"].append(np.nanmax(v))
                elif leaf.startswith("ess_bulk"):
                    out["ess"].append(np.nanmin(v))
                elif leaf.startswith("divergen"):
                    out["div"].append(np.nansum(v))
        if "diagnostics" in h:
            h["diagnostics"].visititems(visit)
    return out


# ------------------------------------------------------------------------------------------------
# report parsing
def parse_tables(md):
    lines = md.splitlines()
    tables = []
    for i, line in enumerate(lines):
        m = re.match(r"<!-- table:(.*) source:(\S*) -->$", line.strip())
        if not m:
            continue
        header = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", lines[i + 1].strip())[1:-1]]
        rows, j = [], i + 3
        while j < len(lines) and lines[j].startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", lines[j].strip())[1:-1]]
            rows.append(cells)
            j += 1
        tables.append((m.group(1), m.group(2), header, rows))
    return tables


def strip_md(s):
    return s.strip().strip("`").strip("*")


class Checker:
    def __init__(self, results):
        self.results = results
        self.main_src = None
        self.theories = {}

    def theory(self, src):
        if src not in self.theories:
            self.theories[src] = Theory(self.results, src)
        return self.theories[src]

    def check(self, tid, src, header, rows):
        CHECKED["tables"] += 1
        where = f"table '{tid}'"
        if not rows:
            return fail(f"{where}: empty")
        for r in rows:
            if len(r) != len(header):
                return fail(f"{where}: row {r} has {len(r)} cells for {len(header)} columns")
        kind = tid.split(" ")[0]
        fn = getattr(self, "t_" + kind.replace("-", "_"), None)
        if fn is None:
            return fail(f"{where}: unknown table (the checker must verify every table)")
        fn(tid, src, header, rows)

    # -- tables -------------------------------------------------------------------------------------
    def baseline(self, cell):
        """A source cell '`file` /baselines/<name>' -> (file, group) or None."""
        m = re.fullmatch(r"`([^`]+)` (/baselines/\S+)", cell.strip())
        return (m[1], m[2].lstrip("/")) if m else None

    def baseline_values(self, cell, T):
        f, g = self.baseline(cell)
        th = self.theory(f)
        it = th.gp_t[th.t_key(T)][1]
        with h5py.File(os.path.join(self.results, f), "r") as h:
            out = {k: (h[f"{g}/{k}"][it] if f"{g}/{k}" in h else None) for k in ("accuracy", "bias", "variance")}
            out["labels"] = [str(x) for x in np.atleast_1d(text(h[g].attrs.get("path_labels", [])))]
        return out

    def t_summary(self, tid, src, header, rows):
        for r in rows:
            if r[2] == "absent":
                continue
            if self.baseline(r[1]):
                f, g = self.baseline(r[1])
                th = self.theory(f)
                d = th.attrs(H5.DATA)
                w = f"summary/{r[1]}"
                num_equal(w + "/P", r[5], d.get("P"))
                num_equal(w + "/Q", r[6], d.get("Q"))
                attr_equal(w + "/T", r[4], sorted(th.gp_t))
                attr_equal(w + "/paths", r[7], self.baseline_values(r[1], sorted(th.gp_t)[0])["labels"])
                num_equal(w + "/files", r[8], 0)
                continue
            th = self.theory(strip_md(r[1]))
            d = th.attrs(H5.DATA)
            w = f"summary/{r[1]}"
            num_equal(w + "/P", r[5], d.get("P"))
            num_equal(w + "/Q", r[6], d.get("Q"))
            attr_equal(w + "/paths", r[7], th.labels())
            temps = sorted(th.gp_t)
            attr_equal(w + "/T", r[4], temps)
            if r[2] == "theory + GP":
                attr_equal(w + "/widths", r[3], sorted({n for n, _ in th.cells}))
            num_equal(w + "/files", r[8], len(th.files))

    def t_samples_summary(self, tid, src, header, rows):
        for r in rows:
            p = os.path.join(self.results, strip_md(r[0]))
            s = sample_values(p)
            with h5py.File(p, "r") as h:
                width = int(text(h[H5.CONFIG].attrs.get("width")))
            num_equal(f"{tid}/{r[0]}/N", r[1], width)
            num_equal(f"{tid}/{r[0]}/T", r[2], s["T"])
            num_equal(f"{tid}/{r[0]}/chains", r[3], s["chains"])
            num_equal(f"{tid}/{r[0]}/draws", r[4], s["draws"])

    def t_jobs(self, tid, src, header, rows):
        for r in rows:
            path = os.path.join(self.results, strip_md(r[0]))
            kv = {}
            with open(path) as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    kv[k] = v
            for col, key in [(1, "stage"), (4, "state"), (7, "end")]:
                attr_equal(f"{tid}/{r[0]}/{key}", r[col], kv[key])
            for col, key in [(2, "job"), (3, "array_task"), (5, "exit"), (6, "restart")]:
                num_equal(f"{tid}/{r[0]}/{key}", r[col], float(kv[key]) if kv.get(key) else None)

    def t_findings(self, tid, src, header, rows):
        main = self.theory(self.main_src) if self.main_src else None
        noisy = self.noisy_src and self.theory(self.noisy_src)
        for r in rows:
            q, val = r[0], r[1]
            w = f"findings/{q}"
            m = re.fullmatch(r"4 paths: theory − GP accuracy at N = (\d+), T = (\S+) \(points\)", q)
            if m:
                T = float(m[2])
                num_equal(w, val, 100 * (main.grid(H5.THEORY_KEYS["accuracy"], m[1], T)
                                         - main.gp(H5.GP_KEYS["accuracy"], T)))
                continue
            m = re.fullmatch(r"4 paths: U₁\[(\w+),(\w+)\] at N = (\d+), T = (\S+)", q)
            if m:
                lab = main.labels()
                U = main.grid(H5.THEORY_KEYS["U1"], m[3], float(m[4]))
                num_equal(w, val, U[lab.index(m[1]), lab.index(m[2])])
                continue
            m = re.fullmatch(r"2 paths, noisier: (theory|diagonal-only) − GP at N = (\d+), T = (\S+) \(points\)", q)
            if m:
                T = float(m[3])
                d = H5.THEORY_KEYS["accuracy"] if m[1] == "theory" else H5.THEORY_KEYS["accuracy_diagonal"]
                num_equal(w, val, 100 * (noisy.grid(d, m[2], T) - noisy.gp(H5.GP_KEYS["accuracy"], T)))
                continue
            m = re.fullmatch(r"sampled − theory accuracy at N = (\d+), T = (\S+) \(points\)", q)
            if m:
                s = sample_values(samples_file(self.results, self.main_src, m[1]))
                num_equal(w + "/T", m[2], s["T"])
                num_equal(w, val, 100 * (s["acc"] - main.grid(H5.THEORY_KEYS["accuracy"], m[1], s["T"])))
                continue
            fail(f"{w}: unknown finding")

    def t_accuracy_main(self, tid, src, header, rows):
        th = self.theory(src)
        cols = {h: i for i, h in enumerate(header)}
        for r in rows:
            N, T = int(r[0]), float(r[1])
            w = f"{tid}/N={N}/T={T}"
            acc = th.grid(H5.THEORY_KEYS["accuracy"], N, T)
            gp = th.gp(H5.GP_KEYS["accuracy"], T)
            num_equal(w + "/theory", r[cols["theory acc."]], 100 * acc)
            num_equal(w + "/gain", r[cols["theory − GP (points)"]], 100 * (acc - gp))
            num_equal(w + "/diag", r[cols["diagonal-only acc."]],
                      _pct(th.grid(H5.THEORY_KEYS["accuracy_diagonal"], N, T)))
            num_equal(w + "/gp", r[cols["GP acc."]], 100 * gp)
            sf = samples_file(self.results, src, N)
            sacc = None
            if sf:
                s = sample_values(sf)
                if same_temperature(s["T"], T) and s["acc"] is not None:
                    sacc = 100 * s["acc"]
            num_equal(w + "/sampled", r[cols["sampled acc."]], sacc)
            for col, d in [("bias", H5.THEORY_KEYS["bias"]), ("variance", H5.THEORY_KEYS["variance"]),
                           ("converged", H5.THEORY_KEYS["converged"]), ("iterations", H5.THEORY_KEYS["iterations"]),
                           ("max |∂S/∂U|", H5.THEORY_KEYS["grad_max"])]:
                num_equal(f"{w}/{col}", r[cols[col]], th.grid(d, N, T))

    def t_gp_baselines(self, tid, src, header, rows):
        for r in rows:
            if r[5] == "absent":
                continue
            T = float(r[1])
            w = f"{tid}/{r[0]}/T={T}"
            if self.baseline(r[5]):
                v = self.baseline_values(r[5], T)
                num_equal(w + "/acc", r[2], 100 * v["accuracy"])
                num_equal(w + "/bias", r[3], v["bias"])
                num_equal(w + "/variance", r[4], v["variance"])
                continue
            th = self.theory(strip_md(r[5]))
            num_equal(w + "/acc", r[2], 100 * th.gp(H5.GP_KEYS["accuracy"], T))
            num_equal(w + "/bias", r[3], th.gp(H5.GP_KEYS["bias"], T))
            num_equal(w + "/variance", r[4], th.gp(H5.GP_KEYS["variance"], T))
            if r[0].startswith("all "):
                num_equal(w + "/npaths", r[0].split()[1], len(th.labels()))

    def t_u1_main(self, tid, src, header, rows):
        m = re.fullmatch(r"u1-main N=(\d+) T=(\S+)", tid)
        N, T = int(m[1]), float(m[2])
        th = self.theory(src)
        U = th.grid(H5.THEORY_KEYS["U1"], N, T)
        lab = th.labels()
        attr_equal(f"{tid}/columns", ", ".join(header[1:]), lab)
        for r in rows:
            i = lab.index(strip_md(r[0]))
            for j, c in enumerate(r[1:]):
                num_equal(f"{tid}/U[{lab[i]},{lab[j]}]", c, U[i, j])

    def t_alignment(self, tid, src, header, rows):
        T = float(tid.split("T=")[1])
        th = self.theory(src)
        gp = th.gp(H5.ALIGNMENT_KEYS["gp"], T)
        cols = []
        for c in header[1:]:
            if c == "GP":
                cols.append(gp)
            else:
                N = int(re.fullmatch(r"theory N=(\d+)", c)[1])
                cols.append(th.grid(H5.ALIGNMENT_KEYS["theory"], N, T))
        finite = int(np.sum(np.any(np.isfinite(np.array(cols, float)), axis=0)))  # k > P gives NaN
        if len(rows) != finite:
            fail(f"{tid}: {len(rows)} rows but the file has {finite} finite overlaps")
        for r in rows:
            k = int(r[0])
            for c, vals in zip(r[1:], cols):
                num_equal(f"{tid}/k={k}", c, vals[k - 1])

    def t_accuracy_noisy(self, tid, src, header, rows):
        th = self.theory(src)
        lab = th.labels()
        for r in rows:
            N, T = int(r[0]), float(r[1])
            w = f"{tid}/N={N}"
            acc = th.grid(H5.THEORY_KEYS["accuracy"], N, T)
            dg = th.grid(H5.THEORY_KEYS["accuracy_diagonal"], N, T)
            num_equal(w + "/theory", r[2], 100 * acc)
            num_equal(w + "/diag", r[3], _pct(dg))
            num_equal(w + "/gp", r[4], 100 * th.gp(H5.GP_KEYS["accuracy"], T))
            num_equal(w + "/gain", r[5], None if dg is None else 100 * (acc - dg))
            U = th.grid(H5.THEORY_KEYS["U1"], N, T)
            num_equal(w + "/U01", r[6], U[0, 1] if len(lab) > 1 else None)
            num_equal(w + "/converged", r[7], th.grid(H5.THEORY_KEYS["converged"], N, T))

    def t_sampling(self, tid, src, header, rows):
        main = self.theory(self.main_src)
        for r in rows:
            N = int(r[0])
            s = sample_values(samples_file(self.results, self.main_src, N))
            w = f"{tid}/N={N}"
            num_equal(w + "/T", r[1], s["T"])
            num_equal(w + "/chains", r[2], s["chains"])
            num_equal(w + "/draws", r[3], s["draws"])
            num_equal(w + "/acc", r[4], None if s["acc"] is None else 100 * s["acc"])
            num_equal(w + "/theory", r[5], 100 * main.grid(H5.THEORY_KEYS["accuracy"], N, s["T"]))
            num_equal(w + "/rhat", r[6], max(s["rhat"]) if s["rhat"] else None)
            num_equal(w + "/ess", r[7], min(s["ess"]) if s["ess"] else None)
            num_equal(w + "/div", r[8], sum(s["div"]) if s["div"] else None)

    def t_compare(self, tid, src, header, rows):
        for r in rows:
            path = os.path.join(self.results, strip_md(r[0]))
            with h5py.File(path, "r") as h:
                W = list(h["compare/widths"][()])
                i = W.index(int(r[1]))
                g = lambda k: (h[k][i] if k in h else None)  # noqa: E731
                w = f"{tid}/{r[0]}/N={r[1]}"
                num_equal(w + "/T", r[2], g("compare/temperatures"))
                for col, k, scale in [(3, "accuracy/theory", 100), (4, "accuracy/sampled", 100), (5, "accuracy/gp", 100),
                                      (6, "predictor/mean_correlation", 1), (7, "predictor/variance_ratio", 1),
                                      (8, "rhat/U1", 1), (9, "rhat/predictor", 1)]:
                    v = g("compare/" + k)
                    num_equal(f"{w}/{k}", r[col], None if v is None else scale * float(v))

    def t_u1_sampled(self, tid, src, header, rows):
        N = int(tid.split("N=")[1])
        if os.path.join(self.results, src) != SAMPLE_FILES.get(N):
            fail(f"{tid}: source {src} is not the sample file of N={N} listed in the report")
        s = sample_values(os.path.join(self.results, src))
        main = self.theory(self.main_src)
        U = main.grid(H5.THEORY_KEYS["U1"], N, s["T"])
        lab = main.labels()
        n = U.shape[0]
        if len(rows) != n * (n + 1) // 2:
            fail(f"{tid}: {len(rows)} rows for {n} paths")
        for r in rows:
            a, b = r[0].split("–")
            i, j = lab.index(a), lab.index(b)
            num_equal(f"{tid}/{r[0]}/theory", r[1], U[i, j])
            num_equal(f"{tid}/{r[0]}/sampled", r[2], s["u1"][i, j])
            num_equal(f"{tid}/{r[0]}/mcse", r[3], None if s["mcse"] is None else s["mcse"][i, j])
            if len(r) > 4:   # z = (sampled − theory) / MCSE, recomputed from the files
                mc = None if s["mcse"] is None else float(s["mcse"][i, j])
                num_equal(f"{tid}/{r[0]}/z", r[4], (s["u1"][i, j] - U[i, j]) / mc if mc and mc > 0 else None)

    def _attr_table(self, tid, src, rows, group):
        with h5py.File(os.path.join(self.results, src), "r") as h:
            attrs = {k: v for k, v in h[group].attrs.items()} if group in h else {}
        printed = set()
        for r in rows:
            key = strip_md(r[0])
            printed.add(key)
            if key not in attrs:
                fail(f"{tid}: '{key}' is not an attribute of /{group}")
                continue
            attr_equal(f"{tid}/{key}", r[1], attrs[key])
        missing = set(attrs) - printed
        if missing:
            fail(f"{tid}: attributes of /{group} not in the report: {sorted(missing)}")

    def t_config(self, tid, src, header, rows):
        self._attr_table(tid, src, rows, H5.CONFIG)

    def t_provenance(self, tid, src, header, rows):
        self._attr_table(tid, src, rows, "provenance")

    def t_timing(self, tid, src, header, rows):
        with h5py.File(os.path.join(self.results, src), "r") as h:
            a = {k: text(v) for k, v in h["provenance/timing"].attrs.items()}
        stages = a["stage"] if isinstance(a["stage"], list) else [a["stage"]]
        secs = np.atleast_1d(a["seconds"]).tolist()
        calls = np.atleast_1d(a["calls"]).tolist()
        if len(rows) != len(stages):
            fail(f"{tid}: {len(rows)} rows for {len(stages)} stages")
        for r, st, sec, c in zip(rows, stages, secs, calls):
            attr_equal(f"{tid}/stage", r[0], st)
            attr_equal(f"{tid}/{st}/seconds", r[1], float(sec))
            num_equal(f"{tid}/{st}/calls", r[2], c)


def _pct(v):
    return None if v is None else 100 * float(v)


def check_figures(md, report_dir, figures, skipped):
    """Every linked PNG is valid with its PDF; the comma-separated stems in `figures` are shown and those
    in `skipped` are skipped with a note. Returns the PNGs shown."""
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    for png in shown:
        path = os.path.join(report_dir, png)
        if not os.path.isfile(path):
            fail(f"figure {png} linked but missing")
            continue
        check_png(path)
        check_pdf(path[:-4] + ".pdf")
        if f"]({png[:-4]}.pdf)" not in md:
            fail(f"figure {png}: no link to its PDF")
    stems = {os.path.basename(p)[:-4] for p in shown}
    for f in filter(None, figures.split(",")):
        if f not in stems:
            fail(f"figure '{f}' expected but not in the report"
                 + (f" (skipped: {re.search(rf'skipped.*{f}.*', md)[0]})" if re.search(rf"skipped.*{f}", md) else ""))
    for f in filter(None, skipped.split(",")):
        if f in stems:
            fail(f"figure '{f}' should have been skipped")
        elif not re.search(rf"Figure skipped\*\* \({f}\)", md):
            fail(f"figure '{f}' is neither shown nor skipped with a note")
    return shown


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("results")
    p.add_argument("--figures", default="", help="figures that must be shown (comma-separated stems)")
    p.add_argument("--skipped", default="", help="figures that must be skipped with a note")
    p.add_argument("--min-tables", type=int, default=1)
    a = p.parse_args()
    md_path = os.path.join(a.report, "report.md")
    if not os.path.isfile(md_path):
        print(f"check_report: {md_path} missing")
        return 1
    md = open(md_path).read()
    shown = check_figures(md, a.report, a.figures, a.skipped)

    # tables
    tables = parse_tables(md)
    if len(tables) < a.min_tables:
        fail(f"only {len(tables)} tables (expected at least {a.min_tables})")
    ck = Checker(os.path.abspath(a.results))
    mains = [src for tid, src, _, _ in tables if tid == "accuracy-main"]
    ck.main_src = mains[0] if mains else None
    noisy = [src for tid, src, _, _ in tables if tid == "accuracy-noisy"]
    ck.noisy_src = noisy[0] if noisy else None
    for tid, src, header, rows in tables:
        if tid == "samples-summary":
            for r in rows:
                SAMPLE_FILES[int(r[1])] = os.path.join(ck.results, strip_md(r[0]))
    for tid, src, header, rows in tables:
        try:
            ck.check(tid, src, header, rows)
        except Exception as e:  # a lookup that fails is a report/file mismatch
            fail(f"table '{tid}': cannot verify ({type(e).__name__}: {e})")

    print(f"check_report: {len(shown)} figures, {CHECKED['tables']} tables, {CHECKED['numbers']} numbers and "
          f"{CHECKED['strings']} strings checked against {a.results}")
    if FAILURES:
        for f in FAILURES:
            print("FAIL:", f)
        print(f"check_report: {len(FAILURES)} failure(s)")
        return 1
    print("check_report: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
