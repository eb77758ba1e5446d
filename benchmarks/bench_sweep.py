"""Issue 5's workloads W1–W3: throughput, and the ratio to a plain reference run in this process.

    python benchmarks/bench_sweep.py [--quick] [W1] [W2] [W3]

* W1: Adam (lr 1e-3, torch defaults) on rosenbrock, 10,000 starts uniform in [−2,2]×[−1,3]
  (seed 0), 1,000 steps, full trajectories recorded. Reference: a hand-written vectorized
  numpy loop over the batch.
* W2: 1,000 log-spaced lrs in [1e-4, 1e-1] for heavy ball (momentum 0.9) and for Adam from
  (−1.5, 2) on rosenbrock, 2,000 steps, final loss per lr. Reference: the same numpy loop with
  the lrs as the batch.
* W3: the gradient flow on rosenbrock from 100 starts to t = 10 at rtol 1e-8, atol 1e-10, with
  ``method="RK45-compiled"`` (simulate.solvers.fastflow) and with per-start LSODA. Reference: scipy's LSODA
  on one stacked system of all starts with the analytic (block diagonal) Jacobian. Accuracy of
  all: largest endpoint error against DOP853 at rtol 1e-13.

W1 and W2 run with the compiled engine (``engine="compiled"``, numba, both cores; compile time
reported apart) and with the numpy loop. Ratios above 1 mean simulate is faster. ``--quick`` runs
a tenth of every workload; naming workloads runs only those.
"""

import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

import simulate as sim
from simulate.analysis.sweep import Axis, sweep


def best_of(fn, repeat=3, budget=1.0):
    """The fastest of at least ``repeat`` runs, repeated until ``budget`` seconds are spent (short
    workloads are timed many times: on a shared machine single millisecond timings scatter)."""
    best, out, spent, runs = np.inf, None, 0.0, 0
    while runs < repeat or (spent < budget and runs < 200):
        t0 = time.perf_counter()
        out = fn()
        took = time.perf_counter() - t0
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best, out


def rosenbrock_grad(x, a=1.0, b=100.0):
    u, v = x[..., 0], x[..., 1]
    return np.stack([-2 * (a - u) - 4 * b * u * (v - u * u), 2 * b * (v - u * u)], axis=-1)


def rosenbrock(x, a=1.0, b=100.0):
    return (a - x[..., 0]) ** 2 + b * (x[..., 1] - x[..., 0] ** 2) ** 2


def adam_reference(x0, steps, lr, b1=0.9, b2=0.999, eps=1e-8, record=True):
    x = x0.copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    lr = np.asarray(lr)[..., None] if np.ndim(lr) else lr
    xs = np.empty((steps + 1,) + x.shape) if record else None
    if record:
        xs[0] = x
    for k in range(1, steps + 1):
        g = rosenbrock_grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr / (1 - b1**k) * m / (np.sqrt(v) / np.sqrt(1 - b2**k) + eps)
        if record:
            xs[k] = x
    return xs if record else x


def heavy_ball_reference(x0, steps, lr, mu=0.9):
    x = np.broadcast_to(x0, np.shape(lr) + x0.shape[-1:]).copy()
    b = np.zeros_like(x)
    lr = np.asarray(lr)[..., None]
    for k in range(1, steps + 1):
        g = rosenbrock_grad(x)
        b = g if k == 1 else mu * b + g
        x = x - lr * b
    return x


def w1(scale):
    starts = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(int(10_000 * scale), 2))
    steps = 1000
    work = len(starts) * steps
    t_ref, ref = best_of(lambda: adam_reference(starts, steps, 1e-3))
    adam = sim.optimizer("adam", lr=1e-3)
    t0 = time.perf_counter()
    sim.iterate("rosenbrock", adam, starts[:2], 2, engine="compiled")
    compile_time = time.perf_counter() - t0
    for engine in ("compiled", "numpy"):
        t_sim, run = best_of(lambda: sim.iterate("rosenbrock", adam, starts, steps, engine=engine))
        same = np.nanmax(np.abs(run.x - ref))
        print(f"W1 adam, {len(starts)} starts x {steps} steps, trajectories, {engine:8s}: {work / t_sim / 1e6:7.1f} M/s, "
              f"numpy reference {work / t_ref / 1e6:6.1f} M/s, ratio {t_ref / t_sim:5.2f}  (max |diff| {same:.1e})")
    print(f"   (compiling the Adam loop once: {compile_time:.1f} s, not in the figures above)")


def w2(scale):
    lrs = np.geomspace(1e-4, 1e-1, int(1000 * scale))
    start = np.array([-1.5, 2.0])
    steps = 2000
    work = lrs.size * steps
    for name, reference in (("momentum", lambda: heavy_ball_reference(start, steps, lrs)),
                            ("adam", lambda: adam_reference(np.broadcast_to(start, lrs.shape + (2,)).copy(), steps,
                                                            lrs, record=False))):
        with np.errstate(all="ignore"):
            t_ref, ref = best_of(reference)
            loss_ref = rosenbrock(ref)
        sweep("rosenbrock", name, [Axis("lr", lrs[:2])], start=start, steps=2, track=(), engine="compiled")
        for engine in ("compiled", "numpy"):
            t_sim, s = best_of(lambda: sweep("rosenbrock", name, [Axis("lr", lrs, "log")], start=start, steps=steps,
                                             track=(), engine=engine, progress=False))
            ok = np.isfinite(s.metric("final_loss"))
            same = np.max(np.abs(s.metric("final_loss")[ok] - loss_ref[ok]) / (1 + np.abs(loss_ref[ok])))
            print(f"W2 {name:8s} {lrs.size} lrs x {steps} steps, final loss, {engine:8s}: {work / t_sim / 1e6:7.1f} M/s, "
                  f"numpy reference {work / t_ref / 1e6:6.1f} M/s, ratio {t_ref / t_sim:5.2f}  (max rel diff {same:.1e})")


def w3(scale):
    land = sim.landscape("rosenbrock")
    starts = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(max(int(100 * scale), 2), 2))
    T, rtol, atol = 10.0, 1e-8, 1e-10
    n = len(starts)

    def stacked():
        def fun(t, y):
            return -land.grad(y.reshape(n, 2)).reshape(-1)

        def jac(t, y):
            H = land.hess(y.reshape(n, 2))
            J = np.zeros((2 * n, 2 * n))
            for i in range(n):
                J[2 * i:2 * i + 2, 2 * i:2 * i + 2] = -H[i]
            return J

        sol = solve_ivp(fun, (0, T), starts.reshape(-1), method="LSODA", rtol=rtol, atol=atol, jac=jac)
        return sol.y[:, -1].reshape(n, 2)

    exact = np.array([solve_ivp(lambda t, y: -land.grad(y), (0, T), s, method="DOP853", rtol=1e-13,
                                atol=1e-15).y[:, -1] for s in starts])
    t_ref, ref = best_of(stacked)
    err_ref = np.max(np.abs(ref - exact))
    gd = sim.optimizer("gd", lr=1.0)
    sim.integrate(land, gd, starts[:2], t=[0.0, 0.1], method="RK45-compiled")  # compile outside the timing
    for method in ("RK45-compiled", "LSODA"):
        t_sim, run = best_of(lambda: sim.integrate(land, gd, starts, t=[0.0, T], method=method, rtol=rtol, atol=atol),
                             repeat=3 if method == "RK45-compiled" else 1, budget=1.0 if method == "RK45-compiled" else 0)
        err_sim = np.max(np.abs(run.x[-1] - exact))
        print(f"W3 gradient flow, {n} starts to t = {T:g}, {method:13s}: simulate {t_sim:.3f} s (max err {err_sim:.1e}), "
              f"stacked LSODA {t_ref:.3f} s (max err {err_ref:.1e}), ratio {t_ref / t_sim:5.2f}")


if __name__ == "__main__":
    scale = 0.1 if "--quick" in sys.argv else 1.0
    chosen = [a.upper() for a in sys.argv[1:] if not a.startswith("--")] or ["W1", "W2", "W3"]
    for name, workload in (("W1", w1), ("W2", w2), ("W3", w3)):
        if name in chosen:
            workload(scale)
