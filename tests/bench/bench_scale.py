#!/usr/bin/python3
"""Scale benchmark (docs/benchmarks.md "Scale"): for each P, generate a Markov dataset in blocks (no big
file in the repository), then run `attnpaths theory` at N in {10, 1000, P} on 1 and 2 ranks. Prints and
writes (JSON) the wall time of every stage, the peak memory of every rank (/provenance/peak_memory_bytes,
VmHWM) and the parallel efficiency t1 / (2 t2) of the whole run and of the streamed stages.

  tests/bench/bench_scale.py --binary build/bin/attnpaths --workdir /tmp/scale --sizes 10000,100000,1000000 \
      [--tokens 6 --feature-dim 10] [--ranks 1,2] [--dtype float32] [--block-size 256] [--keep]
The default shape is the paper's Markov task (T = 31, N0 = 231: 57 kB per example, 57 GB at P = 10^6);
--tokens 6 --feature-dim 10 (T = 7, N0 = 17, 1 kB per example) runs P = 10^6 in minutes.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import h5py


def run(cmd, env):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:])
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}")
    return wall


def launcher(ranks):
    return [] if ranks == 1 else ["mpirun", "-n", str(ranks)]


def provenance(path):
    with h5py.File(path, "r") as f:
        p = f["provenance"]
        t = p["timing"].attrs
        stages = {s: float(v) for s, v in zip(t["stage"], t["seconds"])}
        return stages, [float(v) for v in p.attrs["peak_memory_bytes"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/bin/attnpaths")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--tokens", type=int, default=30)
    ap.add_argument("--feature-dim", type=int, default=200)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--block-size", default="256")
    ap.add_argument("--test-examples", type=int, default=1000)
    ap.add_argument("--temperature", default="0.01")
    ap.add_argument("--keep", action="store_true", help="keep the generated datasets")
    ap.add_argument("--json", default=None, help="write the results here (default WORKDIR/scale.json)")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    ranks = [int(r) for r in a.ranks.split(",")]
    results = []
    print(f"load before: {os.getloadavg()}")
    for P in [int(p) for p in a.sizes.split(",")]:
        data = os.path.join(a.workdir, f"markov_P{P}.h5")
        gen = run(launcher(max(ranks)) + [a.binary, "data", "markov", "-P", str(P), "-Q", str(a.test_examples),
                  "--tokens", str(a.tokens), "--feature-dim", str(a.feature_dim), "--dtype", a.dtype,
                  "--block-size", a.block_size, "-o", data, "--overwrite"], env)
        _, gen_mem = provenance(data)
        print(f"P = {P}: data markov on {max(ranks)} rank(s) {gen:.1f} s, {os.path.getsize(data) / 1e9:.2f} GB, "
              f"peak {max(gen_mem) / 1e9:.2f} GB per rank")
        row = {"P": P, "generate_seconds": gen, "generate_peak_bytes": gen_mem, "file_bytes": os.path.getsize(data),
               "runs": {}}
        for R in ranks:
            out = os.path.join(a.workdir, f"theory_P{P}_n{R}.h5")
            wall = run(launcher(R) + [a.binary, "theory", "--data", data, "--widths", f"10,1000,{P}",
                       "--temperatures", a.temperature, "--block-size", a.block_size, "-o", out, "--overwrite"], env)
            stages, mem = provenance(out)
            with h5py.File(out, "r") as f:
                conv = [int(c) for c in f["theory/converged"][()].ravel()]
                acc = [float(v) for v in f["predictor/theory/accuracy"][()].ravel()]
                gp = float(f["predictor/gp/accuracy"][0])
            row["runs"][R] = {"wall": wall, "stages": stages, "peak_bytes": mem, "converged": conv,
                              "accuracy": acc, "gp_accuracy": gp}
            print(f"  {R} rank(s): {wall:7.1f} s  peak {max(mem) / 1e9:.2f} GB/rank  converged {conv}  "
                  f"accuracy N=10,1000,P {['%.3f' % x for x in acc]}  GP {gp:.3f}  stages "
                  + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
        if 1 in row["runs"] and 2 in row["runs"]:
            one, two = row["runs"][1], row["runs"][2]
            streamed = lambda r: r["stages"].get("load", 0) + r["stages"].get("path inputs", 0)
            row["efficiency"] = one["wall"] / (2 * two["wall"])
            row["efficiency_streamed"] = streamed(one) / (2 * max(streamed(two), 1e-9))
            print(f"  parallel efficiency 1 -> 2 ranks: whole run {row['efficiency']:.2f}, "
                  f"load + path inputs {row['efficiency_streamed']:.2f}")
        results.append(row)
        if not a.keep:
            os.remove(data)
    print(f"load after: {os.getloadavg()}")
    with open(a.json or os.path.join(a.workdir, "scale.json"), "w") as f:
        json.dump({"load": os.getloadavg(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
