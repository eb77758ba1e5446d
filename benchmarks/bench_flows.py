"""Issue 19: a sweep with a flow, method auto (the compiled solver where it applies) against LSODA, in one process.

    python benchmarks/bench_flows.py [--quick] [--calibrate]

Workload: GD on rosenbrock from (−1.5, 2), lr over [1e-3, 1e-2] (200 cells; 40 with ``--quick``),
1000 steps, ``flow="exact"``, nothing tracked. The sweep is run once with ``method="auto"`` to load
the compiled solver (reported apart), then timed with ``auto`` (best of 3) and with ``LSODA``
(once). Printed: both times, their ratio (above 1: auto is faster), the estimates of
:mod:`simulate.solvers.cost` beside them, and the largest difference of the flows' final losses.

``--calibrate`` measures the constants of :mod:`simulate.solvers.cost` on this machine (seconds
per numpy step and member-step, per compiled member-step, per solve_ivp evaluation, per compiled
evaluation) and prints them beside the values in the module.
"""

import sys
import time

import numpy as np

import simulate as sim
from simulate.analysis.sweep import sweep
from simulate.landscapes import landscape
from simulate.solvers import cost
from simulate.solvers.continuous import integrate
from timing import best_of


def ratio(quick: bool) -> None:
    cells = 40 if quick else 200
    run = dict(optimizers="gd", landscape="rosenbrock", axes=f"lr=1e-3:1e-2:{cells}", steps=1000, flow="exact",
               track=(), progress=False)
    t0 = time.perf_counter()
    sweep(**run, method="auto")
    print(f"first auto sweep (loads the compiled solver): {time.perf_counter() - t0:.2f} s")
    t_auto, auto = best_of(lambda: sweep(**run, method="auto"))
    t_lsoda, lsoda = best_of(lambda: sweep(**run, method="LSODA"), repeat=1)
    print(f"sweep of {cells} cells x 1000 steps with the exact flow of gd on rosenbrock")
    print(f"  auto ({auto.stats['flow_methods']['gd flow']}): {t_auto:.3f} s  (estimated "
          f"{auto.stats['estimated_seconds']:.3f} s)")
    print(f"  LSODA: {t_lsoda:.3f} s  (estimated {lsoda.stats['estimated_seconds']:.3f} s)")
    print(f"  ratio LSODA / auto: {t_lsoda / t_auto:.1f}x")
    a, b = auto.metric("final_loss", "gd flow"), lsoda.metric("final_loss", "gd flow")
    print(f"  largest |final loss difference| of the flows: {np.nanmax(np.abs(a - b)):.2e}")


def calibrate() -> None:
    def per_step(members, **kw):
        t, _ = best_of(lambda: sweep("gd", "rosenbrock", f"lr=1e-5:1e-3:{members}:log", steps=2000, progress=False,
                                     **kw))
        return t / 2000

    small, large = per_step(10), per_step(10_000)
    member = (large - small) / (10_000 - 10)
    print(f"NUMPY_STEP           {small - 10 * member:.2e}  (module: {cost.NUMPY_STEP:.2e})")
    print(f"NUMPY_MEMBER_STEP    {member:.2e}  (module: {cost.NUMPY_MEMBER_STEP:.2e})")
    sweep("gd", "rosenbrock", "lr=1e-5:1e-3:4", steps=10, engine="compiled", track=(), progress=False)
    compiled = per_step(100_000, engine="compiled", track=()) / 100_000
    print(f"COMPILED_MEMBER_STEP {compiled:.2e}  (module: {cost.COMPILED_MEMBER_STEP:.2e})")
    land, opt = landscape("rosenbrock"), sim.optimizer("gd", lr=1e-3)
    starts = land.sample(20, seed=0)
    for method, name, value in (("LSODA", "SOLVE_IVP_EVALUATION", cost.SOLVE_IVP_EVALUATION),
                                ("RK45-compiled", "COMPILED_EVALUATION", cost.COMPILED_EVALUATION)):
        integrate(opt, land, starts[:2], t=np.array([0.0, 0.1]), method=method)
        t, r = best_of(lambda: integrate(opt, land, starts, t=np.array([0.0, 10.0]), method=method))
        print(f"{name:20} {t / r.stats['nfev'].sum():.2e}  (module: {value:.2e})")


if __name__ == "__main__":
    if "--calibrate" in sys.argv:
        calibrate()
    else:
        ratio("--quick" in sys.argv)
