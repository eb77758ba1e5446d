"""Issue 22: what the default path costs against a hand-written numpy loop, cold and warm, and JAX.

    python benchmarks/bench_default.py [--quick] [--no-cold] [--no-jax] [W1 W1-rmsprop W1-formula W2 W2-none]

Workloads (default options throughout: ``sim.iterate`` / ``sim.sweep`` as a user calls them):

* W1: Adam (lr 1e-3) on rosenbrock, 10,000 starts uniform in [−2,2]×[−1,3] (seed 0), 1,000 steps,
  trajectories recorded (``sim.iterate``). W1-rmsprop: RMSprop (lr 1e-3) instead; W1-formula: Adam on
  rosenbrock written as a formula landscape.
* W2: heavy ball (``momentum``, 0.9), 1,000 log-spaced lrs in [1e-4, 1e-1] from (−1.5, 2) on
  rosenbrock, 2,000 steps, by ``sim.sweep`` with its default metrics; W2-none with ``track=()``.

Columns, all wall times of the whole call (the work is members × steps; ratios are the reference's
time over simulate's, above 1 when simulate is faster):

* ``reference``: a hand-written vectorized numpy loop in this process (best of 3);
* ``warm``: the default call in this process once an earlier call (and the background compile it
  may have started) has run: the best of 3;
* ``cold``: a fresh process with an empty ``NUMBA_CACHE_DIR``: ``import simulate`` and the call
  (compiling included), against ``import numpy`` and the reference loop in a fresh process;
* ``2nd process``: a fresh process with that cache as the first one (and its background compile)
  left it;
* ``jax``: ``jax.jit`` with ``lax.scan`` (W1) / ``lax.fori_loop`` (W2), float64, compile apart
  (install with ``pip install "simulate[bench]"``).

W1's memory-bandwidth limit is a plain write of the record's bytes into fresh memory (``np.empty``
and ``fill``); the table gives W1's share of it (the limit's time over W1's). ``--quick`` runs a
tenth of every workload.
"""

import time

_T0 = time.perf_counter()  # a child's clock starts before numpy is imported

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
from timing import best_of as timed  # noqa: E402 - (seconds, result); numpy only, as a cold child needs

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("W1", "W1-rmsprop", "W1-formula", "W2", "W2-none")
ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"


# -- the hand-written references (numpy only: a cold child imports nothing else) -------------------------
def rosenbrock_grad(x, a=1.0, b=100.0):
    u, v = x[..., 0], x[..., 1]
    return np.stack([-2 * (a - u) - 4 * b * u * (v - u * u), 2 * b * (v - u * u)], axis=-1)


def adam_reference(x0, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    x = x0.copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    xs = np.empty((steps + 1,) + x.shape)
    xs[0] = x
    for k in range(1, steps + 1):
        g = rosenbrock_grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr / (1 - b1**k) * m / (np.sqrt(v) / np.sqrt(1 - b2**k) + eps)
        xs[k] = x
    return xs


def rmsprop_reference(x0, steps, lr, alpha=0.99, eps=1e-8):
    x = x0.copy()
    v = np.zeros_like(x)
    xs = np.empty((steps + 1,) + x.shape)
    xs[0] = x
    for k in range(1, steps + 1):
        g = rosenbrock_grad(x)
        v = alpha * v + (1 - alpha) * g * g
        x = x - lr * g / (np.sqrt(v) + eps)
        xs[k] = x
    return xs


def heavy_ball_reference(x0, steps, lr, mu=0.9):
    x = np.broadcast_to(x0, np.shape(lr) + x0.shape[-1:]).copy()
    b = np.zeros_like(x)
    lr = np.asarray(lr)[..., None]
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            g = rosenbrock_grad(x)
            b = g if k == 1 else mu * b + g
            x = x - lr * b
    return x


def inputs(name, scale):
    """``(members × steps, the reference call, the default call)`` of a workload."""
    if name.startswith("W1"):
        starts = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(int(10_000 * scale), 2))
        steps = 1000
        ref = (lambda: rmsprop_reference(starts, steps, 1e-3)) if name == "W1-rmsprop" else \
            (lambda: adam_reference(starts, steps, 1e-3))

        def default():
            import simulate as sim

            opt = sim.optimizer("rmsprop" if name == "W1-rmsprop" else "adam", lr=1e-3)
            land = "rosenbrock"
            if name == "W1-formula":
                land = sim.landscape(ROSENBROCK)
            return sim.iterate(land, opt, starts, steps)
        return len(starts) * steps, ref, default
    lrs = np.geomspace(1e-4, 1e-1, int(1000 * scale))
    start, steps = np.array([-1.5, 2.0]), 2000

    def default():
        import simulate as sim

        extra = {"track": ()} if name == "W2-none" else {}
        return sim.sweep("rosenbrock", "momentum", {"lr": lrs}, start=start, steps=steps, **extra)
    return lrs.size * steps, lambda: heavy_ball_reference(start, steps, lrs), default


# -- timing ---------------------------------------------------------------------------------------------
def background_lock():
    """The background compile's lock file for this process's cache (None before issue 22)."""
    try:
        from simulate.solvers.warmup import background_lock as lock
    except ImportError:
        return None
    return lock()


def wait_for(lock, limit=600.0):
    """Wait until a background compile holding ``lock`` has ended."""
    t0 = time.time()
    while lock and os.path.exists(lock) and time.time() - t0 < limit:
        time.sleep(0.2)


def child(kind, name, scale):
    """In a fresh process: time from before ``import numpy`` to the end of the call; print it and
    the background compile's lock (the parent waits for it)."""
    _, ref, default = inputs(name, scale)
    if kind == "ref":
        ref()
        print(time.perf_counter() - _T0, "-")
    else:
        default()
        took = time.perf_counter() - _T0
        print(took, background_lock() or "-")


def in_child(kind, name, scale, cache):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, name, str(scale)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), (None if out[1] == "-" else out[1])


def jax_times(name, scale):
    """``(compile seconds, run seconds)`` of W1 (Adam) or W2 (heavy ball) in JAX; None without jax."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def grad(x):
        u, v = x[..., 0], x[..., 1]
        return jnp.stack([-2 * (1 - u) - 400 * u * (v - u * u), 200 * (v - u * u)], axis=-1)

    if name in ("W1", "W1-formula"):
        starts = jnp.asarray(np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(int(10_000 * scale), 2)))
        b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-3

        @jax.jit
        def run(x0):
            def body(carry, k):
                x, m, v = carry
                g = grad(x)
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                x = x - lr / (1 - b1**k) * m / (jnp.sqrt(v) / jnp.sqrt(1 - b2**k) + eps)
                return (x, m, v), x
            _, xs = jax.lax.scan(body, (x0, jnp.zeros_like(x0), jnp.zeros_like(x0)), jnp.arange(1.0, 1001.0))
            return jnp.concatenate([x0[None], xs])
        args = (starts,)
    elif name in ("W2", "W2-none"):
        lrs = jnp.asarray(np.geomspace(1e-4, 1e-1, int(1000 * scale)))[:, None]

        @jax.jit
        def run(lr):
            x0 = jnp.broadcast_to(jnp.array([-1.5, 2.0]), lr.shape[:1] + (2,))

            def body(k, carry):
                x, b = carry
                g = grad(x)
                b = jnp.where(k == 1, g, 0.9 * b + g)
                return x - lr * b, b
            return jax.lax.fori_loop(1, 2001, body, (x0, jnp.zeros_like(x0)))[0]
        args = (lrs,)
    else:
        return None
    t0 = time.perf_counter()
    run(*args).block_until_ready()
    first = time.perf_counter() - t0
    took = timed(lambda: run(*args).block_until_ready())[0]
    return first - took, took


def bandwidth_limit(shape, repeat=3):
    """The time of a plain write of a record of ``shape`` into fresh memory (as a run's record)."""
    def write():
        out = np.empty(shape)
        out.fill(0.0)
        return out
    return timed(write, repeat)[0]


def main(argv):
    folders = []  # the numba caches made here, removed at the end
    try:
        run_all(argv, folders)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def run_all(argv, folders):
    scale = 0.1 if "--quick" in argv else 1.0
    cold, use_jax = "--no-cold" not in argv, "--no-jax" not in argv
    chosen = [a for a in argv if not a.startswith("--")] or list(WORKLOADS)
    own_cache = tempfile.mkdtemp(prefix="simulate-bench-")  # this process's cache starts empty too
    folders.append(own_cache)
    os.environ["NUMBA_CACHE_DIR"] = own_cache
    __import__("simulate")  # imported once, before the first timed call
    header = (f"{'workload':11s} {'M member-steps':>14s} {'reference':>10s} {'warm':>16s} {'cold (ref cold)':>24s} "
              f"{'2nd process':>16s} {'jax (compile)':>22s}")
    print(header)
    rows = {}
    for name in chosen:
        work, ref, default = inputs(name, scale)
        t_ref = timed(ref)[0]
        default()  # the first call: the numpy loop, or a compile; perhaps a background compile
        wait_for(background_lock())
        default()  # loads what the background compile cached
        t_warm = timed(default)[0]
        cells = [f"{work / 1e6:14.1f}", f"{t_ref:9.3f}s", f"{t_warm:7.3f}s {t_ref / t_warm:6.2f}x"]
        if cold:
            ref_cold = min(in_child("ref", name, scale, own_cache)[0] for _ in range(3))
            fresh = tempfile.mkdtemp(prefix="simulate-bench-cold-")
            folders.append(fresh)
            t_cold, lock = in_child("sim", name, scale, fresh)
            wait_for(lock)
            t_second = min(in_child("sim", name, scale, fresh)[0] for _ in range(2))
            cells += [f"{t_cold:6.2f}s {ref_cold / t_cold:5.2f}x ({ref_cold:5.2f}s)",
                      f"{t_second:6.2f}s {ref_cold / t_second:6.2f}x"]
        else:
            cells += [f"{'-':>24s}", f"{'-':>16s}"]
        jx = jax_times(name, scale) if use_jax else None
        cells.append(f"{jx[1]:7.3f}s {t_ref / jx[1]:5.1f}x ({jx[0]:.2f}s)" if jx else f"{'-':>22s}")
        print(f"{name:11s} " + " ".join(cells), flush=True)
        rows[name] = (work, t_ref, t_warm)
    if "W1" in rows:
        work, _, t_warm = rows["W1"]
        starts = int(10_000 * scale)
        limit = bandwidth_limit((1001, starts, 2))
        print(f"\nW1's record is {1001 * starts * 2 * 8 / 2**20:.0f} MiB; writing it into fresh memory takes "
              f"{limit:.3f} s ({1001 * starts * 16 / limit / 1e9:.1f} GB/s): W1 warm runs at "
              f"{limit / t_warm:.0%} of that limit")
    print("\nratios: the reference's time over simulate's (above 1: simulate is faster); cold: each in a fresh "
          "process with an empty numba cache, the reference in a fresh process (import numpy + loop)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main(sys.argv[1:])
