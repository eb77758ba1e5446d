"""A sweep on a Dask cluster against the same sweep serial: the scaling from 1 to 2 workers here, and
the per-cell cost from which a 10⁹-cell basin map is costed on paper (docs/guide/sweeps.md).

    python benchmarks/bench_dask.py [--quick] [--tracked]

The workload is a basin map: heavy ball (lr 1e-3, momentum 0.9) on himmelblau from a grid of
starts x, y in the plot box, 1,000 steps, every cell's end metrics (``track=()``; ``--tracked``: the
default metrics too, steps_to_tol, rate and the verdict, which the compiled loop measures itself),
always in the compiled engine (``engine="compiled"``: the auto rule would take the numpy loop for
a first mid-sized run, and compile inside a timed one). Timed serial in this process (numba's threads on every core), then
on a LocalCluster of 1 and of 2 worker processes (one thread each, numba too: one core each),
every time after a warm-up run (compilation and the cluster's start are not counted). Every
distributed result is checked equal to the serial one, bit for bit. The constant printed last,
seconds per member-step on one core, gives a grid of C cells of K steps on N machines of k cores:

    T ≈ C · K · c / (N · k · e)        (e: the parallel efficiency measured from 1 to 2 workers)
"""

import os
import sys
import time

import numpy as np

import simulate as sim
from simulate.analysis.sweep import TRACKED


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv):
    quick, tracked = "--quick" in argv, "--tracked" in argv
    side = 100 if quick else 300
    steps = 1000
    axes = [f"x=-5:5:{side}", f"y=-5:5:{side}"]
    kw = dict(steps=steps, track=TRACKED if tracked else (), engine="compiled")
    opt = "momentum(lr=1e-3, momentum=0.9)"
    cells = side * side
    run = lambda **more: sim.sweep("himmelblau", opt, axes, **kw, **more)  # noqa: E731
    run()  # compile (or load) the engine's loop
    serial, reference = timed(run)
    print(f"basin map: heavy ball on himmelblau, {side} x {side} starts x {steps} steps "
          f"({'default metrics' if tracked else 'track=()'}), {cells * steps:.3g} member-steps")
    print(f"  serial (this process, every core):  {serial:7.2f} s  {cells * steps / serial / 1e6:7.1f} M member-steps/s")

    os.environ["NUMBA_NUM_THREADS"] = "1"  # the workers' numba: one core each (they inherit the environment)
    from distributed import Client, LocalCluster

    times = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            chunk = -(-cells // (4 * workers))
            run(scheduler=client, chunk_cells=chunk)  # warm: each worker compiles (or loads) its loop
            took, result = timed(lambda: run(scheduler=client, chunk_cells=chunk))
            for name, values in reference.metrics.items():
                np.testing.assert_array_equal(result.metrics[name], values, err_msg=name)
            times[workers] = took
            print(f"  {workers} worker{'s' * (workers > 1)} (one core each):       {took:7.2f} s  "
                  f"{cells * steps / took / 1e6:7.1f} M member-steps/s  {serial / took:5.2f}x serial  (equal bit for bit)")
    efficiency = times[1] / (2 * times[2])
    per_step = times[1] / (cells * steps)
    print(f"  scaling 1 -> 2 workers: {times[1] / times[2]:.2f}x (efficiency e = {efficiency:.2f})")
    print(f"  c = {per_step * 1e9:.2f} ns per member-step on one core (1 worker, chunks and gathering included)")
    big = 31623**2 * steps
    for machines, cores in ((1, 2), (10, 32), (100, 32)):
        seconds = big * per_step / (machines * cores * efficiency)
        print(f"  10⁹-cell basin map (31623² starts x {steps} steps) on {machines} machine(s) x {cores} cores: "
              f"about {seconds / 3600:.3g} h")


if __name__ == "__main__":
    main(sys.argv[1:])
