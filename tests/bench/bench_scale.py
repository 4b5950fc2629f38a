#!/usr/bin/python3
"""Scale benchmark (docs/benchmarks.md "Scale"): for each P, generate a Markov dataset in blocks (no big
file in the repository), then run `attnpaths theory` at N in {10, 1000, P} on 1 and 2 ranks. Prints and
writes (JSON) the wall and CPU time of every stage, the peak memory of every rank (/provenance/peak_memory_bytes,
VmHWM) and the parallel efficiency T1 / (2 T2) of the whole run and of every stage (wall and rank 0's CPU time).
With --repeats the 1- and 2-rank runs alternate (1, 2, 1, 2, ...) and the best of each counts.

  tests/bench/bench_scale.py --binary build/bin/attnpaths --workdir /tmp/scale --sizes 10000,100000,1000000 \
      [--tokens 6 --feature-dim 10] [--ranks 1,2] [--dtype float32] [--block-size 256] [--keep]
The default shape is the paper's Markov task (T = 31, N0 = 231: 57 kB per example, 57 GB at P = 10^6);
--tokens 6 --feature-dim 10 (T = 7, N0 = 17, 1 kB per example) runs P = 10^6 in minutes.
The parallel efficiency on an idle machine, as docs/benchmarks.md measures it:
  tests/bench/bench_scale.py --workdir /tmp/eff --sizes 10000 --repeats 3 --keep
  tests/bench/bench_scale.py --workdir /tmp/eff --sizes 100000 --tokens 14 --feature-dim 100 --repeats 3 --keep
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
        cpu = {s: float(v) for s, v in zip(t["stage"], t["cpu_seconds"])} if "cpu_seconds" in t else {}
        return stages, cpu, [float(v) for v in p.attrs["peak_memory_bytes"]], float(p.attrs["wall_seconds"])


def theory_run(a, data, P, R, env, tag):
    out = os.path.join(a.workdir, f"theory_P{P}_n{R}_{tag}.h5")
    wall = run(launcher(R) + [a.binary, "theory", "--data", data, "--widths", a.widths.replace("P", str(P)),
               "--temperatures", a.temperature, "--block-size", a.block_size, "-o", out, "--overwrite"], env)
    stages, cpu, mem, inrun = provenance(out)
    with h5py.File(out, "r") as f:
        conv = [int(c) for c in f["theory/converged"][()].ravel()]
        acc = [float(v) for v in f["predictor/theory/accuracy"][()].ravel()]
        gp = float(f["predictor/gp/accuracy"][0])
        u1 = f["theory/U1"][()].tolist() if "theory/U1" in f else None
        evals = int(f["theory/evaluations"][()].sum())
    os.remove(out)
    return {"wall": wall, "inrun": inrun, "stages": stages, "cpu": cpu, "peak_bytes": mem, "converged": conv, "accuracy": acc,
            "gp_accuracy": gp, "U1": u1, "evaluations": evals, "load": os.getloadavg()}


def print_run(R, r):
    print(f"  {R} rank(s): {r['wall']:7.2f} s  peak {', '.join('%.2f' % (m / 1e9) for m in r['peak_bytes'])} GB per rank"
          f"  converged {r['converged']}  accuracy {['%.3f' % x for x in r['accuracy']]}  GP {r['gp_accuracy']:.3f}"
          f"  {r['evaluations']} evaluations  load {r['load'][0]:.1f}")
    print("      stage wall/cpu s: " + ", ".join(f"{k} {v:.2f}/{r['cpu'].get(k, 0):.2f}" for k, v in r["stages"].items()))


def efficiency(runs):
    """T1, T2 (best of the repeats) and t1/(2 t2) for the whole run and per stage, wall and rank-0 CPU."""
    best = {R: min(rs, key=lambda r: r["wall"]) for R, rs in runs.items()}
    one, two = best[1], best[2]
    out = {"T1": one["wall"], "T2": two["wall"], "efficiency": one["wall"] / (2 * two["wall"]), "stages": {}}
    for k, v in one["stages"].items():
        w2, c1, c2 = two["stages"].get(k, 0), one["cpu"].get(k, 0), two["cpu"].get(k, 0)
        out["stages"][k] = {"wall1": v, "wall2": w2, "cpu1": c1, "cpu2": c2,
                            "eff_wall": v / (2 * w2) if w2 > 0 else None, "eff_cpu": c1 / (2 * c2) if c2 > 0 else None}
    if one["U1"] is not None:
        import numpy as np
        out["U1_max_diff"] = float(np.max(np.abs(np.array(one["U1"]) - np.array(two["U1"]))))
        print(f"  max |U_1(1 rank) - U_1(2 ranks)| = {out['U1_max_diff']:.1e}")
    print(f"  T1 = {out['T1']:.2f} s, T2 = {out['T2']:.2f} s: parallel efficiency T1/(2 T2) = {out['efficiency']:.2f}"
          f" (best of {len(runs[1])} each)")
    # The process wall time includes the launcher: none for 1 rank (a singleton), mpirun for 2 (~0.4 s more
    # here). The run's own wall time (/provenance wall_seconds: from MPI started to the results written)
    # compares the same thing on both sides.
    i1, i2 = min(r["inrun"] for r in runs[1]), min(r["inrun"] for r in runs[2])
    out.update({"inrun1": i1, "inrun2": i2, "efficiency_inrun": i1 / (2 * i2)})
    print(f"  in-run wall (/provenance wall_seconds, launcher and MPI start excluded): {i1:.2f} s, {i2:.2f} s: "
          f"parallel efficiency {out['efficiency_inrun']:.2f}")
    # The minimiser's evaluation count depends on round-off at large alpha: compare per evaluation too.
    m1, m2 = one["stages"].get("minimise", 0), two["stages"].get("minimise", 0)
    if m2 > 0:
        out["minimise_efficiency_per_evaluation"] = (m1 / one["evaluations"]) / (2 * m2 / two["evaluations"])
        print(f"  minimise per evaluation: 1 rank {1e3 * m1 / one['evaluations']:.1f} ms, 2 ranks "
              f"{1e3 * m2 / two['evaluations']:.1f} ms (efficiency {out['minimise_efficiency_per_evaluation']:.2f}); "
              f"evaluations {one['evaluations']} / {two['evaluations']}")
    print(f"  {'stage':<14} {'wall 1':>8} {'wall 2':>8} {'eff':>5} | {'cpu 1':>8} {'cpu 2':>8} {'eff':>5}  (cpu: rank 0's)")
    for k, e in out["stages"].items():
        f = lambda x: "    -" if x is None else f"{x:5.2f}"
        print(f"  {k:<14} {e['wall1']:8.2f} {e['wall2']:8.2f} {f(e['eff_wall'])} | {e['cpu1']:8.2f} {e['cpu2']:8.2f} {f(e['eff_cpu'])}")
    return out


def generate(a, P, ranks, env):
    data = os.path.join(a.workdir, f"markov_P{P}.h5")
    if a.keep and os.path.exists(data):
        print(f"P = {P}: reusing {data}")
        return data, {}
    gen = run(launcher(max(ranks)) + [a.binary, "data", "markov", "-P", str(P), "-Q", str(a.test_examples),
              "--tokens", str(a.tokens), "--feature-dim", str(a.feature_dim), "--dtype", a.dtype,
              "--block-size", a.block_size, "-o", data, "--overwrite"], env)
    _, _, gen_mem, _ = provenance(data)
    print(f"P = {P}: data markov on {max(ranks)} rank(s) {gen:.1f} s, {os.path.getsize(data) / 1e9:.2f} GB, "
          f"peak {max(gen_mem) / 1e9:.2f} GB per rank")
    return data, {"generate_seconds": gen, "generate_peak_bytes": gen_mem, "file_bytes": os.path.getsize(data)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/bin/attnpaths")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--repeats", type=int, default=1, help="runs per rank count, alternating 1, 2, 1, 2, ...")
    ap.add_argument("--widths", default="10,1000,P", help="widths of the theory runs (P stands for the size)")
    ap.add_argument("--tokens", type=int, default=30)
    ap.add_argument("--feature-dim", type=int, default=200)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--block-size", default="8", help="MiB per block, for the data and the theory (the theory's default: 8)")
    ap.add_argument("--test-examples", type=int, default=1000)
    ap.add_argument("--temperature", default="0.01")
    ap.add_argument("--keep", action="store_true", help="keep the generated datasets (and reuse kept ones)")
    ap.add_argument("--json", default=None, help="write the results here (default WORKDIR/scale.json)")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    ranks = [int(r) for r in a.ranks.split(",")]
    results = []
    print(f"load before: {os.getloadavg()}")
    for P in [int(p) for p in a.sizes.split(",")]:
        data, row = generate(a, P, ranks, env)
        row.update({"P": P, "runs": {R: [] for R in ranks}})
        for rep in range(a.repeats):
            for R in ranks:  # back to back, so that both rank counts see the same load
                r = theory_run(a, data, P, R, env, rep)
                row["runs"][R].append(r)
                print_run(R, r)
        if 1 in ranks and 2 in ranks:
            row["efficiency"] = efficiency(row["runs"])
        results.append(row)
        if not a.keep:
            os.remove(data)
    print(f"load after: {os.getloadavg()}")
    with open(a.json or os.path.join(a.workdir, "scale.json"), "w") as f:
        json.dump({"load": os.getloadavg(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
