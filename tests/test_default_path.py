"""The default path: lazy records hold the eager values, the numpy loop's shortcuts keep the bits,
the ``auto`` rule picks what it says, and ``simulate warmup`` fills the cache the next process loads."""

import os
import pickle
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import simulate as sim
from simulate.optimizers import OPTIMIZERS
from simulate.solvers import choice, discrete, engine, warmup
from simulate.solvers.discrete import run_map
from simulate.solvers.trajectory import OnFirstUse, sample_times
from tests.helpers import OPTIMIZERS_UNDER_TEST, case_id, run_steps

ROSE = sim.landscape("rosenbrock")
STARTS = np.random.default_rng(3).uniform(ROSE.bounds[:, 0], ROSE.bounds[:, 1], size=(64, 2))


@pytest.fixture(autouse=True)
def _no_background_compile(monkeypatch):
    monkeypatch.setenv(warmup.BACKGROUND_ENV, "0")  # a test never leaves a compiler running
    monkeypatch.setattr(choice, "_numpy_work", {})  # each test starts from a process that ran nothing
    monkeypatch.setattr(choice, "_asked", set())


def _kernel_cases():
    """Every configuration under test and every registered name that declares a kernel, with a
    second lr that makes many members diverge, and per-member hyperparameters (per-member tables)."""
    cases = [(n, kw) for n, kw in OPTIMIZERS_UNDER_TEST if sim.optimizer(n, **kw).kernel() is not None]
    cases += [(n, {}) for n in OPTIMIZERS if sim.optimizer(n).kernel() is not None and all(n != c[0] for c in cases)]
    return cases


@pytest.mark.parametrize("case", _kernel_cases(), ids=case_id)
def test_the_kernel_loop_is_the_step_loop_bit_for_bit(case):
    name, kw = case
    base = sim.optimizer(name, **kw)
    starts = np.vstack([STARTS, [[8.0, 0.0]]])  # the last starts outside the ball: the masked loop runs too
    lrs = np.geomspace(1e-4, 10.0, len(starts))  # the larger ones leave the ball (for most optimizers)
    ran = []
    for opt in (base, base.replace(lr=lrs)):
        batch = np.broadcast_shapes(starts.shape[:-1], opt.batch_shape)
        radius = 5.0  # just outside the box
        fast_at, fast = run_map(opt, ROSE, starts, 120, radius, batch)
        assert discrete._kernel_step(opt, opt.init(starts), 120) is not None  # the shortcut is what ran
        slow_at, slow = _step_loop(opt, starts, 120, radius, batch)
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(fast_at, slow_at)
        ok = fast_at < 0  # and the members that never stopped are the optimizer's own steps
        with np.errstate(all="ignore"):  # the diverging members overflow
            own = run_steps(opt, ROSE, starts, 120)
        np.testing.assert_array_equal(fast[1:, ok], own[:, ok])
        assert fast_at[-1] == 0
        ran.append(ok.any())
    assert any(ran)  # some member ran all its steps


def test_per_member_tables_are_taken_step_by_step_with_the_same_bits():
    opt = sim.optimizer("adam", lr=0.05, betas=(np.linspace(0.5, 0.95, len(STARTS)), 0.999))
    assert opt.kernel().per_member_tables
    batch = (len(STARTS),)
    fast_at, fast = run_map(opt, ROSE, STARTS, 80, 5.0, batch)
    slow_at, slow = _step_loop(opt, STARTS, 80, 5.0, batch)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast_at, slow_at)


def _step_loop(opt, x0, steps, radius, batch):
    xs = np.full((steps + 1,) + batch + x0.shape[-1:], np.nan)

    def record(k, x, diverged_at):
        xs[k] = x if diverged_at is None else np.where(((diverged_at < 0) | (diverged_at == k))[..., None], x, np.nan)

    return discrete.advance(opt, ROSE, x0, steps, radius, record, by_kernel=False), xs


def test_the_escape_shortcut_decides_as_the_exact_test(monkeypatch):
    land = sim.landscape("himmelblau")
    starts = np.array([[1e4, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 2.0], [-4.0, -4.0]])  # outside; at a minimum
    opt = sim.optimizer("gd", lr=np.array([0.5, 0.01, 0.2, 0.001, 0.2]))
    quick = sim.iterate(land, opt, starts, 60, engine="numpy")
    inside = discrete._surely_inside
    monkeypatch.setattr(discrete, "_surely_inside", lambda x, bound: False)  # the exact test every step
    exact = sim.iterate(land, opt, starts, 60, engine="numpy")
    np.testing.assert_array_equal(quick.x, exact.x)
    np.testing.assert_array_equal(quick.diverged_at, exact.diverged_at)
    assert quick.diverged_at[0] == 0 and (quick.diverged_at[1:] > 0).any() and (quick.diverged_at < 0).any()
    # the bound is inside the ball: |x_i| < b for every i gives |x|^2 <= r^2 in floating point
    for d in (1, 2, 3, 10):
        b = discrete._inner_bound(100.0, d)
        edge = np.full((1, d), np.nextafter(b, 0))
        assert inside(edge, b) and not discrete._escaped(edge, 100.0).any()


def test_a_run_whose_members_all_stop_early_records_nan_after_them():
    run = sim.iterate("himmelblau", "gd(lr=0.5)", np.array([[1e4, 0.0], [0.0, 0.0]]), 40, engine="numpy")
    last = int(run.diverged_at.max())
    assert last < 40 and np.isnan(run.x[last + 1:]).all() and np.isfinite(run.x[last, 1]).all()


def test_lazy_losses_and_times_are_the_eager_values():
    opt = sim.optimizer("momentum", lr=np.geomspace(1e-4, 5e-2, len(STARTS)))  # some members diverge
    run = sim.iterate(ROSE, opt, STARTS, 300, engine="numpy")
    assert run.diverged.any() and not run.diverged.all()
    assert OnFirstUse.pending(run, "f") and OnFirstUse.pending(run, "t")
    repr(run), run.status, run.message, run.final  # none of these computes them
    assert OnFirstUse.pending(run, "f") and OnFirstUse.pending(run, "t")
    with np.errstate(all="ignore"):
        eager = ROSE.value(run.x)
    np.testing.assert_array_equal(run.f, eager)  # the same bits, NaN where NaN (after a member stopped)
    np.testing.assert_array_equal(np.isnan(run.f), np.isnan(run.x[..., 0]))
    assert run.f is run.f and not OnFirstUse.pending(run, "f")  # computed once, then kept
    np.testing.assert_array_equal(run.t, sample_times(opt.time_per_step, 300, opt.batch_shape))
    # the compiled loop's own losses (evaluated in the loop) are the same bits
    _, f_loop, _, _ = engine.compiled_run(opt, ROSE, STARTS, 300, run.stats["escape_radius"], 1)
    np.testing.assert_array_equal(run.f, f_loop)


def test_a_lazy_record_pickles_subsamples_and_reloads_with_its_values(tmp_path):
    run = sim.iterate(ROSE, "adam(lr=0.05)", STARTS[:5], 30, engine="numpy")
    back = pickle.loads(pickle.dumps(run))
    np.testing.assert_array_equal(back.f, run.f)
    np.testing.assert_array_equal(back.t, run.t)
    fresh = sim.iterate(ROSE, "adam(lr=0.05)", STARTS[:5], 30, engine="numpy")
    every = fresh.every(3)
    assert OnFirstUse.pending(every, "f")
    np.testing.assert_array_equal(every.f, run.f[::3])
    loaded = sim.Trajectory.load(run.save(tmp_path / "run.npz"))
    np.testing.assert_array_equal(loaded.f, run.f)


# -- the auto rule ------------------------------------------------------------------------------------
def test_auto_runs_a_loop_this_process_has_for_any_run_large_enough(monkeypatch):
    land, opt = sim.landscape("booth"), sim.optimizer("momentum(lr=0.01)")
    sim.iterate(land, opt, np.zeros((3, 2)), 3, engine="compiled")  # now this process has the loop
    assert choice.use_compiled("auto", opt, land, 1000, choice.WARM_THRESHOLD // 1000)
    assert not choice.use_compiled("auto", opt, land, 1000, choice.WARM_THRESHOLD // 1000 - 1)
    assert not choice.use_compiled("numpy", opt, land, 10**6, 10**3)
    other = sim.landscape("six-hump-camel")  # a loop this process has not made (nor, here, the disk cache)
    monkeypatch.setattr(choice, "_in_disk_cache", lambda driver: False)
    monkeypatch.setattr(choice, "driver_for", lambda opt, land, track=None: SimpleNamespace(signatures=[]))
    assert not choice.use_compiled("auto", opt, other, 1000, choice.CACHED_THRESHOLD // 1000 - 1)


def test_a_large_uncached_run_compiles_in_the_background_once(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(warmup, "compile_in_background", lambda opt, land, track=None: calls.append((opt, land)) or True)
    monkeypatch.setattr(choice, "_in_disk_cache", lambda driver: False)  # neither cached nor compiled here
    monkeypatch.setattr(choice, "driver_for", lambda opt, land, track=None: SimpleNamespace(signatures=[]))
    land, opt = sim.landscape("six-hump-camel"), sim.optimizer("nesterov(lr=0.001)")
    assert not choice.use_compiled("auto", opt, land, 1000, choice.CACHED_THRESHOLD // 1000)
    assert calls == [(opt, land)]
    assert not choice.use_compiled("auto", opt, land, 1000, choice.LOADED_THRESHOLD // 1000)  # a mid-sized run: none
    assert len(calls) == 1


def test_repeated_mid_sized_runs_of_one_variant_load_its_cached_loop(monkeypatch):
    engine.available()  # numba imported: a cached loop loads from LOADED_THRESHOLD member-steps
    monkeypatch.setattr(choice, "_in_disk_cache", lambda driver: True)
    monkeypatch.setattr(choice, "driver_for", lambda opt, land, track=None: SimpleNamespace(signatures=[]))
    land, opt = sim.landscape("styblinski-tang"), sim.optimizer("rmsprop(lr=0.01)")
    steps = choice.LOADED_THRESHOLD // 2500  # 0.4 of the threshold per run of 1000 members
    assert [choice.use_compiled("auto", opt, land, 1000, steps) for _ in range(3)] == [False, False, True]
    other = sim.optimizer("rmsprop(lr=0.01, centered=True)")  # another variant: counted apart
    assert not choice.use_compiled("auto", other, land, 1000, steps)


def test_the_background_compile_is_opt_out_and_one_at_a_time(monkeypatch, tmp_path):
    assert not warmup.background_enabled()  # the fixture set SIMULATE_BACKGROUND_COMPILE=0
    assert not warmup.compile_in_background(sim.optimizer("gd"), ROSE)
    monkeypatch.setenv(warmup.BACKGROUND_ENV, "1")
    assert warmup.background_enabled()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    lock = warmup.background_lock()
    assert warmup._take_lock(lock) and not warmup._take_lock(lock)  # one at a time
    assert not warmup.compile_in_background(sim.optimizer("gd"), ROSE)  # the lock is held: none started
    os.utime(lock, (0, 0))  # a lock left by a process that died long ago is taken over
    assert warmup._take_lock(lock)
    warmup._release(lock)
    assert not os.path.exists(lock)


def test_warmup_lists_and_restricts_its_variants():
    pairs = warmup.variants()
    assert ("adam", "rosenbrock") in pairs and ("gd", "himmelblau") in pairs
    assert all(sim.optimizer(o).kernel() is not None for o, _ in pairs)
    assert warmup.variants(["adam@rosenbrock"]) == [("adam", "rosenbrock")]
    assert {o for o, _ in warmup.variants(["booth"])} == {o for o, _ in pairs}
    with pytest.raises(ValueError, match="Did you mean 'adam'"):
        warmup.variants(["adm"])


@pytest.mark.slow
def test_warmup_fills_the_cache_that_auto_loads_in_the_next_process(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), warmup.BACKGROUND_ENV: "0"}
    probe = ("import numpy as np, simulate as sim, simulate.solvers.choice as c\n"
             "from simulate.analysis.measures import tracking\n"
             "gd, booth = sim.optimizer('gd'), sim.landscape('booth')\n"
             "print(c.use_compiled('auto', gd, booth, 1000, c.CACHED_THRESHOLD // 1000))\n"
             # a default sweep over lr: lr per member, its metrics measured in the loop
             "swept, plan = gd.replace(lr=np.geomspace(1e-3, 1e-2, 1000)), tracking(booth, 6000, 1e-6, "
             "('steps_to_tol', 'rate', 'verdict'))\n"
             "print(c.use_compiled('auto', swept, booth, 1000, 6000, plan))\n")

    def run(*argv):
        return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True).stdout

    assert run("-c", probe).split() == ["False", "False"]  # nothing cached: a mid-sized run takes numpy
    said = run("-m", "simulate", "warmup", "--only", "gd@booth")
    assert "gd on booth: compiled" in said and str(tmp_path) in said
    assert run("-c", probe).split() == ["True", "True"]  # the next process loads the cached loops
    assert "already cached" in run("-m", "simulate", "warmup", "--only", "gd@booth")


@pytest.mark.slow
def test_a_background_compile_fills_the_cache_for_the_next_run(tmp_path):
    import time

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), warmup.BACKGROUND_ENV: "1"}
    script = ("import simulate as sim, simulate.solvers.choice as c, simulate.solvers.warmup as w\n"
              "opt, land = sim.optimizer('gd(lr=0.001)'), sim.landscape('beale')\n"
              "print(c.use_compiled('auto', opt, land, 1000, c.CACHED_THRESHOLD // 1000), w.background_lock())\n")
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    decided, lock = first.split()
    assert decided == "False"
    deadline = time.time() + 300
    while os.path.exists(lock) and time.time() < deadline:  # the compile runs on after the run's process ended
        time.sleep(0.5)
    assert not os.path.exists(lock)
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert second.split()[0] == "True"


def test_warmup_command_lists_its_variants_and_names_a_wrong_one(capsys):
    from simulate.cli.app import main

    assert main(["warmup", "--list", "--only", "adam@booth", "--only", "gd@booth"]) == 0
    assert capsys.readouterr().out.split() == ["gd@booth", "adam@booth"]  # in the registry's order
    assert main(["warmup", "--only", "booht"]) == 2
    assert "Did you mean 'booth'?" in capsys.readouterr().err
