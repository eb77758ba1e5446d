"""The compiled engine runs the numpy path's own update functions: the same bits, the same
divergence steps, and it is only used where it is asked for or where the work is large."""

import numpy as np
import pytest

import simulate as sim
from simulate.solvers.choice import COMPILE_THRESHOLD, use_compiled
from simulate.solvers.engine import supports
from simulate.analysis.sweep import Axis, sweep
from tests.helpers import OPTIMIZERS_UNDER_TEST

# every configuration under test whose optimizer declares an elementwise kernel
COVERED = [(n, kw) for n, kw in OPTIMIZERS_UNDER_TEST if supports(sim.optimizer(n, **kw), sim.landscape("himmelblau"))]


@pytest.mark.parametrize("land", ["rosenbrock", "himmelblau"])
@pytest.mark.parametrize("case", COVERED, ids=lambda c: c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items()))
def test_compiled_iterates_are_the_numpy_bits(land, case):
    name, kw = case
    L = sim.landscape(land)
    starts = np.random.default_rng(3).uniform(L.bounds[:, 0], L.bounds[:, 1], size=(300, 2))
    for lr_scale in (1.0, 30.0):  # the second diverges for many starts
        opt = sim.optimizer(name, **{**kw, "lr": kw["lr"] * lr_scale / 10})
        a = sim.iterate(L, opt, starts, 150, engine="compiled")
        b = sim.iterate(L, opt, starts, 150, engine="numpy")
        np.testing.assert_array_equal(a.x, b.x)  # NaN where equal NaN
        np.testing.assert_array_equal(a.f, b.f)  # losses recorded in the loop, by the same pointwise value
        np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
        np.testing.assert_array_equal(a.status, b.status)


def test_compiled_sweeps_are_the_numpy_numbers():
    axes = [Axis.log("lr", 1e-4, 3e-2, 40), Axis.linear("momentum", 0.0, 0.95, 5)]
    a = sweep("rosenbrock", "sgd", axes, start=[-1.5, 2.0], steps=300, track=(), record_every=40, engine="compiled")
    b = sweep("rosenbrock", "sgd", axes, start=[-1.5, 2.0], steps=300, track=(), record_every=40, engine="numpy")
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)
    np.testing.assert_array_equal(a.paths, b.paths)
    assert a.metric("diverged").any() and not a.metric("diverged").all()
    c = sweep("himmelblau", "adam", [Axis("beta1", [0.5, 0.9]), Axis("x", [-4.0, 0.0, 4.0])], steps=200, track=(),
              engine="compiled")
    d = sweep("himmelblau", "adam", [Axis("beta1", [0.5, 0.9]), Axis("x", [-4.0, 0.0, 4.0])], steps=200, track=(),
              engine="numpy")
    np.testing.assert_array_equal(c.metric("final_loss"), d.metric("final_loss"))


def test_auto_compiles_only_large_supported_runs():
    gd, rose = sim.optimizer("gd"), sim.landscape("rosenbrock")
    assert not use_compiled("auto", gd, rose, 100, 100)  # a plot never waits for a compiler
    import subprocess
    import sys

    small = ("import sys, numpy as np, simulate as sim\n"
             "sim.iterate('momentum', 'rosenbrock', np.zeros((50, 2)), 100, engine='auto')\n"
             "print('numba' in sys.modules)\n")
    assert subprocess.run([sys.executable, "-c", small], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"  # nor imports numba (~0.4 s)
    assert use_compiled("auto", gd, rose, 1000, COMPILE_THRESHOLD // 1000)
    # proximal point is not elementwise (a Newton solve per step); quadratic's gradient is a matrix product
    assert not supports(sim.optimizer("proximal"), rose) and not supports(gd, sim.landscape("quadratic"))
    assert not use_compiled("auto", sim.optimizer("proximal"), rose, 10**6, 10**3)  # not covered: numpy
    with pytest.raises(ValueError, match="proximal on rosenbrock is not covered: proximal declares no elementwise"):
        sim.iterate("rosenbrock", "proximal", steps=3, engine="compiled")
    with pytest.raises(ValueError, match="Did you mean 'numpy'"):
        sim.iterate("rosenbrock", "gd", steps=3, engine="nympy")
    with pytest.raises(ValueError, match="exact gradients only"):
        sweep("rosenbrock", "gd", ["lr=0.001,0.002"], steps=3, engine="compiled", noise=0.1)


def test_an_empty_batch_runs_compiled_like_numpy():
    a = sim.iterate("rosenbrock", "momentum", np.zeros((0, 2)), 5, engine="compiled")
    b = sim.iterate("rosenbrock", "momentum", np.zeros((0, 2)), 5, engine="numpy")
    assert a.x.shape == b.x.shape == (6, 0, 2)


def test_an_escaping_start_and_an_all_diverged_share_are_recorded_like_numpy():
    L = sim.landscape("himmelblau")
    starts = np.array([[1e4, 0.0], [0.0, 0.0], [1.0, 1.0]])  # the first is outside the escape ball
    a = sim.iterate(L, "gd(lr=0.5)", starts, 40, engine="compiled")  # every member diverges early
    b = sim.iterate(L, "gd(lr=0.5)", starts, 40, engine="numpy")
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    assert a.diverged_at[0] == 0 and a.diverged.all()


def test_sweep_command_can_track_nothing_and_compile(tmp_path, capsys, monkeypatch):
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    args = ["sweep", "-o", "momentum", "--vary", "lr=1e-4:1e-2:7:log", "--steps", "100", "--track", "none"]
    assert main([*args, "--engine", "compiled", "--data", "c.npz", "--out", "c.png"]) == 0
    assert main([*args, "--engine", "numpy", "--data", "n.npz", "--out", "n.png"]) == 0
    c, n = np.load(tmp_path / "c.npz"), np.load(tmp_path / "n.npz")
    assert "steps_to_tol" not in c and "rate" not in c
    np.testing.assert_array_equal(c["final_loss"], n["final_loss"])
    assert main(["sweep", "--track", "rat", "--out", "x.png"]) == 2
    assert "Did you mean 'rate'?" in capsys.readouterr().err


def test_results_do_not_depend_on_how_many_cores_share_the_blocks(monkeypatch):
    import simulate.solvers.engine as engine
    import simulate.solvers.fastflow as fastflow

    L = sim.landscape("rosenbrock")
    starts = np.random.default_rng(5).uniform(L.bounds[:, 0], L.bounds[:, 1], size=(700, 2))
    opt = sim.optimizer("momentum", lr=np.geomspace(1e-4, 3e-2, 700))  # the larger lrs diverge: blocks stop early
    runs, flows = [], []
    for n in (1, 2, 3):
        monkeypatch.setattr(engine, "cores", lambda: n)
        monkeypatch.setattr(fastflow, "cores", lambda: n)
        runs.append(sim.iterate(L, opt, starts, 200, engine="compiled"))
        flows.append(sim.integrate(L, "gd", starts[:50], t=[0.0, 0.5, 1.0], method="RK45-compiled"))
    assert runs[0].diverged.any() and not runs[0].diverged.all()
    for run, flow in zip(runs[1:], flows[1:]):
        np.testing.assert_array_equal(run.x, runs[0].x)
        np.testing.assert_array_equal(run.diverged_at, runs[0].diverged_at)
        np.testing.assert_array_equal(flow.x, flows[0].x)


def test_compiled_loops_are_cached_on_disk_for_the_next_process(tmp_path):
    import os
    import subprocess
    import sys

    script = ("import numpy as np, simulate as sim, simulate.solvers.engine as e, simulate.solvers.choice as c\n"
              "gd, land = sim.optimizer('gd(lr=0.01)'), sim.landscape('himmelblau')\n"
              "auto = c.use_compiled('auto', gd, land, 1000, c.CACHED_THRESHOLD // 1000)\n"
              "sim.iterate(gd, land, np.zeros((3, 2)), 5, engine='compiled')\n"
              "(run,) = e._DRIVERS.values()\n"
              "print(auto, sum(run.stats.cache_hits.values()), sum(run.stats.cache_misses.values()))\n")
    # no background compile: the first process would start one for the mid-sized run it declines
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "SIMULATE_BACKGROUND_COMPILE": "0"}
    first, second = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                    check=True).stdout.split() for _ in range(2))
    assert first == ["False", "0", "1"]  # auto would not compile a mid-sized run; compiled, and cached
    assert second == ["True", "1", "0"]  # now auto takes the cached loop, which loads without compiling
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*"))


def test_read_only_inputs_reuse_the_same_compiled_loop():
    # numba types a read-only array apart (hyperparameter arrays are read-only, a broadcast start
    # is not): without copies the loop would compile, and be cached, once per flavour
    import simulate.solvers.engine as engine

    L = sim.landscape("himmelblau")
    opt = sim.optimizer("momentum", lr=np.geomspace(1e-3, 1e-2, 70))
    a = sim.iterate(L, opt, np.ones(2), 20, engine="compiled")
    b = sim.iterate(L, opt, np.ones((70, 2)), 20, engine="compiled")
    np.testing.assert_array_equal(a.x, b.x)
    assert len(engine.driver_for(opt, L).signatures) == 1
