"""Markdown building blocks of the report. Every table is preceded by a machine-readable comment
    <!-- table:ID source:PATH -->
so that tests (tests/analysis/check_report.py) can find each table and check every number in it
against the HDF5 files."""
from __future__ import annotations

import math

import numpy as np

MISSING = "—"


def num(x, kind="g4"):
    """Formats a number for a table cell. Kinds: pct (fraction as %, 2 decimals), pts (already in
    points, 2 decimals), g4 (4 significant digits), int, exact (shortest round-trip repr)."""
    if x is None:
        return MISSING
    if isinstance(x, (np.integer, int)) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if not math.isfinite(x):
        return MISSING
    if kind == "pct":
        return f"{100 * x:.2f}"
    if kind == "pts":
        return f"{x:+.2f}"
    if kind == "int":
        return str(int(round(x)))
    if kind == "exact":
        return repr(x)
    return f"{x:.4g}"


def value(v):
    """An attribute value (string, number or list) as table text, exactly."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(value(x) for x in list(v))
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (np.integer, int)):
        return str(int(v))
    if isinstance(v, (np.floating, float)):
        return num(v, "exact")
    s = str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def table(tid, source, header, rows, align=None):
    out = [f"<!-- table:{tid} source:{source} -->"]
    out.append("| " + " | ".join(header) + " |")
    align = align or ["---:"] * len(header)
    out.append("|" + "|".join(align) + "|")
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    out.append("")
    return out
