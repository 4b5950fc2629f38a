#!/usr/bin/python3
"""Small questions the job scripts ask of result files (needs h5py; reads with analysis/attnreport).

    results_query.py selected-temperature SELECTION.h5 WIDTH
        the temperature `attnpaths select` picked on the validation set for WIDTH
    results_query.py theory-file THEORY TEMPERATURE
        THEORY itself when it is a file; for a directory of per-temperature or per-cell theory files
        (jobs/theory_array.sbatch) the file whose grid holds TEMPERATURE (files.same_temperature: relative 1e-9)
    results_query.py samples-temperature SAMPLES.h5
        the temperature a samples file was drawn at (/config)
Prints the answer on stdout; exits 2 with a message naming the file when it cannot answer.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "analysis"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from attnreport import files  # noqa: E402
from attnreport import image as I  # noqa: E402
from attnreport import results as R  # noqa: E402


def die(msg):
    print(f"results_query.py: {msg}", file=sys.stderr)
    sys.exit(2)


def selected_temperature(path, width):
    sel = I.load_selection(path)
    if sel is None:
        die(f"{path}: no /selection/theory/temperature (not an `attnpaths select` output?)")
    try:
        t = I.selected_temperature(sel, width)
    except KeyError as e:
        die(str(e))
    if not np.isfinite(t):
        die(f"{path}: no temperature was selected for width {width}")
    return repr(t)


def theory_file(path, temperature):
    if os.path.isfile(path):
        return path
    t = float(temperature)
    for p in sorted(glob.glob(os.path.join(path, "*.h5"))):
        with h5py.File(p, "r") as f:
            temps = np.atleast_1d(R.read(f, "theory/temperatures", np.array([])))
        if files.temperature_index(temps, t) is not None:
            return p
    die(f"{path}: no theory file holds temperature {temperature}")


def samples_temperature(path):
    with h5py.File(path, "r") as f:
        t = R.attrs(f["config"]).get("temperature") if "config" in f else None
    if t is None:
        die(f"{path}: no /config temperature (not an `attnpaths sample` output?)")
    return repr(float(t))


COMMANDS = {"selected-temperature": (selected_temperature, 2), "theory-file": (theory_file, 2),
            "samples-temperature": (samples_temperature, 1)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) != 2 + COMMANDS[sys.argv[1]][1]:
        die("usage: " + __doc__.strip().splitlines()[2].strip() + " … (see the file's header)")
    fn = COMMANDS[sys.argv[1]][0]
    print(fn(*sys.argv[2:]))
