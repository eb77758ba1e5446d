"""The compiled engine: which optimizer × landscape pairs it runs, and how fast against numpy.

    python benchmarks/bench_engine.py [--quick]

1. The coverage table: every registered optimizer against every registered landscape (and a
   3-D family, and two formula landscapes): ``C`` where ``engine="compiled"`` runs the pair, ``.``
   where it runs in the numpy loop only (the reason is printed once per cause).
2. Throughput of a default-size sweep (1,000 lrs log-spaced in [1e-4, 1e-2] × 2,000 steps from
   (−1.5, 2) on rosenbrock, final point only), per covered optimizer family, in member-steps per
   second: the compiled engine warm (loop compiled in this process), the library's numpy loop,
   and a hand-written plain numpy reference loop of the same update in this process; ratios are
   compiled / reference.
3. Cold starts: a new process that imports simulate and runs the compiled sweep of heavy ball,
   with an empty numba cache (compiles) and with the cache filled by the first (loads).

``--quick`` runs a tenth of the sweep. Timings are the best of repeated runs; on a shared 2-core
machine they scatter by ±20%.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import simulate as sim
from simulate.landscapes import LANDSCAPES
from simulate.optimizers import OPTIMIZERS
from simulate.solvers.engine import compiled_run, not_covered
from simulate.solvers.discrete import advance
from timing import best_of

QUICK = "--quick" in sys.argv
LRS, STEPS = (100, 2000) if QUICK else (1000, 2000)
START = np.array([-1.5, 2.0])


def coverage():
    lands = list(LANDSCAPES) + ["rastrigin(dim=3)", "(1-x)**2 + 100*(y-x**2)**2", "x**4 + y**2"]
    width = max(map(len, OPTIMIZERS)) + 2
    print("coverage (C: compiled, .: numpy only)")
    short = {name: name if len(name) < 14 else name[:13] + "…" for name in lands}
    print(" " * width + " ".join(f"{short[n]:>14}" for n in lands))
    reasons = {}
    for name in OPTIMIZERS:
        opt = sim.optimizer(name)
        cells = []
        for land in lands:
            why = not_covered(opt, sim.landscape(land))
            cells.append(f"{'C' if why is None else '.':>14}")
            if why is not None:
                reasons.setdefault(why.replace(name, "<optimizer>").replace(land, "<landscape>"), []).append(
                    (name, land))
        print(f"{name:<{width}}" + " ".join(cells))
    for why, pairs in reasons.items():
        print(f"  . {why}  ({len(pairs)} pairs)")


# -- hand-written references: the updates in plain numpy over the batch of lrs -------------------
def grad(x):
    u, v = x[..., 0], x[..., 1]
    t = v - u * u
    return np.stack([-2 * (1 - u) - 400 * u * t, 200 * t], axis=-1)


def reference(family, lr, steps):
    x = np.broadcast_to(START, (len(lr), 2)).copy()
    lr = lr[:, None]
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            g = grad(x)
            if family == "momentum":
                a = g if k == 1 else 0.9 * a + g
                x = x - lr * a
            elif family == "adam":
                a = a + (g - a) * 0.1
                b = 0.999 * b + 0.001 * g * g
                x = x - lr / (1 - 0.9 ** k) * a / (np.sqrt(b) / np.sqrt(1 - 0.999 ** k) + 1e-8)
            elif family == "rmsprop":
                a = 0.99 * a + 0.01 * g * g
                x = x - lr * g / (np.sqrt(a) + 1e-8)
            elif family == "adagrad":
                a = a + g * g
                x = x - lr * g / (np.sqrt(a) + 1e-10)
            else:
                x = x - lr * g
    return x


def throughput():
    land = sim.landscape("rosenbrock")
    lrs = np.geomspace(1e-4, 1e-2, LRS)
    work = LRS * STEPS / 1e6
    print(f"\nsweep of {LRS} lrs x {STEPS} steps on rosenbrock, M member-steps/s (ratio compiled / reference)")
    print(f"{'optimizer':<10} {'compiled':>9} {'numpy loop':>11} {'reference':>10} {'ratio':>7} {'compile s':>10}")
    for family in ("gd", "momentum", "rmsprop", "adam", "adagrad"):
        opt = sim.optimizer(family, lr=lrs)
        t0 = time.perf_counter()
        compiled_run(opt, land, START, 2, 1e6, 0)  # compile (or load from numba's disk cache)
        first = time.perf_counter() - t0
        tc, _ = best_of(lambda: compiled_run(opt, land, START, STEPS, 1e6, 0))
        tn, _ = best_of(lambda: advance(opt, land, START, STEPS, 1e6, lambda *a: None), repeat=1)
        tr, _ = best_of(lambda: reference(family, lrs, STEPS), repeat=1)
        print(f"{family:<10} {work / tc:>9.0f} {work / tn:>11.1f} {work / tr:>10.1f} {tr / tc:>6.1f}x {first:>10.2f}")


COLD = """
import time; t0 = time.perf_counter()
import numpy as np, simulate as sim
from simulate.solvers.engine import compiled_run
opt = sim.optimizer("momentum", lr=np.geomspace(1e-4, 1e-2, {lrs}))
compiled_run(opt, sim.landscape("rosenbrock"), np.array([-1.5, 2.0]), {steps}, 1e6, 0)
print(time.perf_counter() - t0)
"""


def cold():
    print("\ncold start: new process, import + compiled heavy-ball sweep, seconds")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        code = COLD.format(lrs=LRS, steps=STEPS)
        for label in ("empty numba cache (compiles)", "filled numba cache (loads)"):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            print(f"  {label}: {float(out.stdout):.2f}")


if __name__ == "__main__":
    coverage()
    throughput()
    cold()
