"""Throughput of the core loops, as ratios against plain reference implementations in this process.

    python benchmarks/bench_core.py

* iterate: Adam on rosenbrock for a batch of starts, vectorized, against a Python loop over starts
  doing the same float64 update one start at a time.
* integrate: the exact lift of momentum with the analytic Jacobian, against the same solver with
  finite-difference Jacobians (scipy's default), for each implicit method. The analytic Jacobian
  saves field evaluations; at d = 2 its own cost about cancels that (measured 0.8–1.2x in time).
"""

import time

import numpy as np
from scipy.integrate import solve_ivp

import simulate as sim
from simulate.solvers.continuous import pack, unpack


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def adam_reference(land, x0, steps, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    x, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for k in range(1, steps + 1):
        g = land.grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr / (1 - b1**k) * m / (np.sqrt(v) / np.sqrt(1 - b2**k) + eps)
    return x


def main():
    land = sim.landscape("rosenbrock")
    rng = np.random.default_rng(0)
    starts = rng.uniform([-2, -1], [2, 3], size=(1000, 2))
    steps = 200
    t_vec = timed(lambda: sim.iterate(land, "adam", starts, steps))
    t_ref = timed(lambda: [adam_reference(land, s, steps) for s in starts[:100]], repeat=1) * 10
    print(f"iterate   adam x {len(starts)} starts x {steps} steps: {len(starts) * steps / t_vec:12.0f} steps/s"
          f"  ({t_ref / t_vec:.1f}x a per-start loop)")

    opt = sim.optimizer("momentum", lr=1e-3)
    x0 = np.array([-1.2, 1.0])
    state = opt.flow_init(x0, land)
    names = tuple(state)

    def solve(method, analytic):
        extra = {"jac": lambda t, y: opt.jacobian(t, unpack(y, names), land)} if analytic else {}
        return solve_ivp(lambda t, y: pack(opt.field(t, unpack(y, names), land)), (0, 2.0), pack(state),
                         method=method, rtol=1e-8, atol=1e-10, **extra)

    for method in ("LSODA", "BDF", "Radau"):
        t_ours, t_fd = timed(lambda: solve(method, True), 2), timed(lambda: solve(method, False), 2)
        n_ours, n_fd = solve(method, True).nfev, solve(method, False).nfev
        print(f"integrate momentum lift on rosenbrock, {method:5s}: {t_ours * 1e3:7.1f} ms, {n_ours:6d} field evals"
              f"  (time {t_fd / t_ours:.2f}x, evals {n_fd / n_ours:.2f}x finite-difference Jacobians)")


if __name__ == "__main__":
    main()
