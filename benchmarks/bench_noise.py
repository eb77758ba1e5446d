"""Throughput of stochastic runs, as ratios against references in this process.

    python benchmarks/bench_noise.py

* noisy iterate: SGD with Gaussian noise on an ensemble of paths, against the same run with exact
  gradients (the price of the draws and the per-step oracle).
* SDE: Euler–Maruyama and stochastic Heun per substep, against one noisy SGD step.
* minibatch: SGD with minibatches on least-squares (N = 64) against full-batch GD on it, and its
  SDE, whose Brownian kick draws N normals per path and substep.
* reference loop: the same noisy SGD written as a bare numpy loop (draw, gradient, update), the
  floor any vectorized implementation can reach.
"""

import numpy as np
from bench_core import timed  # best-of timing, shared by the benchmarks

import simulate as sim


def bare_sgd(land, x0, steps, lr, sigma, seed):
    rng = np.random.default_rng(seed)
    x = x0.copy()
    for _ in range(steps):
        x = x - lr * (land.grad(x) + sigma * rng.standard_normal(x.shape))
    return x


def main():
    paths, steps = 2000, 500
    land = sim.landscape("double-well")
    starts = np.broadcast_to([-1.0, 0.5], (paths, 2))
    gd = sim.optimizer("gd", lr=0.05)
    work = paths * steps
    t_exact = timed(lambda: sim.iterate(land, gd, starts, steps, engine="numpy"))
    t_noisy = timed(lambda: sim.iterate(land, gd, starts, steps, noise=2.0))
    t_bare = timed(lambda: bare_sgd(land, np.array(starts), steps, 0.05, 2.0, 0))
    print(f"noisy iterate  gd x {paths} paths x {steps} steps: {work / t_noisy:12.0f} path-steps/s"
          f"  ({t_noisy / t_exact:.2f}x the exact run, {t_noisy / t_bare:.2f}x a bare numpy loop)")
    for scheme in ("euler-maruyama", "heun"):
        t = timed(lambda: sim.sde(land, gd, starts, steps, noise=2.0, scheme=scheme, substeps=1))
        print(f"sde {scheme:14s} 1 substep per step:       {work / t:12.0f} path-substeps/s"
              f"  ({t / t_noisy:.2f}x a noisy SGD step)")

    ls = sim.landscape("least-squares")
    w = np.broadcast_to(ls.minima[0], (paths, 2))
    t_full = timed(lambda: sim.iterate(ls, gd, w, steps // 5, engine="numpy"))
    t_batch = timed(lambda: sim.iterate(ls, gd, w, steps // 5, batch_size=4))
    t_sde = timed(lambda: sim.sde(ls, gd, w, steps // 5, batch_size=4, substeps=1), repeat=1)
    work = paths * (steps // 5)
    print(f"minibatch      gd, batch 4 of 64:             {work / t_batch:12.0f} path-steps/s"
          f"  ({t_batch / t_full:.2f}x full-batch GD)")
    print(f"minibatch sde  euler-maruyama, N = 64 kicks: {work / t_sde:12.0f} path-substeps/s"
          f"  ({t_sde / t_batch:.2f}x a minibatch SGD step)")


if __name__ == "__main__":
    main()
