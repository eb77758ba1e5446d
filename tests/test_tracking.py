"""The compiled loop measures a sweep's tracked metrics (steps_to_tol, rate, verdict) itself, and
gets the numpy loop's numbers bit for bit."""

import numpy as np
import pytest

from simulate.analysis.measures import rate_windows, tracking
from simulate.analysis.sweep import sweep
from simulate.landscapes import landscape
from simulate.solvers.engine import _sum_text
from simulate.solvers.tracking import RATE, Tracking

# optimizer, landscape, axes, steps: every tracked layout (distance with one and with several
# minima, a landscape without minima where |∇f| is the criterion and the measure, more than 64
# minima where no rate is measured, 9 coordinates where numpy sums pairwise), members that
# diverge, and hyperparameters per member and shared
CASES = [
    ("momentum", "rosenbrock", ["lr=1e-4:2e-3:40:log", "momentum=0.5,0.9"], 300),
    ("adam", "himmelblau", ["lr=1e-3:1:12:log", "x=-4:4:5"], 200),
    ("rmsprop", "saddle", ["lr=1e-3:0.1:10:log"], 150),
    ("nesterov", "rastrigin(dim=9)", ["lr=1e-4:5e-3:10:log"], 120),
    ("adagrad", "styblinski-tang", ["x=-4:4:6", "y=-4:4:5"], 160),
]


@pytest.mark.slow
@pytest.mark.parametrize("opt, land, axes, steps", CASES)
def test_the_compiled_sweep_measures_what_the_numpy_sweep_measures(opt, land, axes, steps):
    numpy = sweep(land, opt, axes, steps=steps, engine="numpy", progress=False)
    compiled = sweep(land, opt, axes, steps=steps, engine="compiled", progress=False)
    assert set(compiled.metrics) == set(numpy.metrics) >= {"steps_to_tol", "rate", "verdict"}
    for name, values in numpy.metrics.items():
        np.testing.assert_array_equal(compiled.metrics[name], values, err_msg=name)
    verdicts = numpy.metrics["verdict"]
    assert len(np.unique(verdicts)) >= 2  # the cases end in different ways, so the equality says something


def test_a_compiled_sweep_with_recorded_paths_and_two_optimizers_matches_numpy():
    axes = ["lr=3e-3:6e-2:8:log"]
    numpy = sweep("himmelblau", ["gd", "momentum"], axes, steps=80, record_every=7, engine="numpy", progress=False)
    compiled = sweep("himmelblau", ["gd", "momentum"], axes, steps=80, record_every=7, engine="compiled",
                     progress=False)
    np.testing.assert_array_equal(compiled.paths, numpy.paths)
    for name, values in numpy.metrics.items():
        np.testing.assert_array_equal(compiled.metrics[name], values, err_msg=name)
    assert np.any(numpy.metrics["steps_to_tol"] >= 0) and np.any(np.isfinite(numpy.metrics["rate"]))


def test_short_runs_are_not_judged_and_a_single_metric_can_be_tracked():
    few = sweep("rosenbrock", "gd", ["lr=1e-3,2e-3"], steps=3, engine="compiled", progress=False)
    assert np.all(few.metrics["verdict"] == -1)  # under 4 steps: not measured, as in the numpy loop
    only = sweep("himmelblau", "gd", ["lr=1e-3:1e-2:4"], steps=50, track=("steps_to_tol",), engine="compiled",
                 progress=False)
    assert "rate" not in only.metrics and "verdict" not in only.metrics
    numpy = sweep("himmelblau", "gd", ["lr=1e-3:1e-2:4"], steps=50, track=("steps_to_tol",), engine="numpy",
                  progress=False)
    np.testing.assert_array_equal(only.metrics["steps_to_tol"], numpy.metrics["steps_to_tol"])


def test_a_game_is_not_tracked_by_the_compiled_loop():
    assert tracking(landscape("dirac-gan"), 100, 1e-6, ("steps_to_tol", "rate", "verdict")) is None
    assert tracking(landscape("rosenbrock"), 100, 1e-6, ()) is None  # nothing asked for


@pytest.mark.parametrize("steps", [4, 5, 37, 200, 2000])
def test_envelopes_that_share_a_slot_are_never_held_at_once(steps):
    """Replaying the tables: a slot restarted while another window still needs it would lose that
    window's envelope; every close must read the two envelopes its own window wrote."""
    plan = Tracking(steps=steps, criterion="", tol=1e-6, fstar=0.0, minima=np.zeros((1, 2)),
                    windows=tuple(rate_windows(steps)), floor=0.0)
    tables = plan.schedules()
    owner = {}  # slot -> the step at which its current envelope opened
    closed = 0
    for k in range(steps + 1):
        for e in range(tables["act_ptr"][k], tables["act_ptr"][k + 1]):
            slot = int(tables["act_slot"][e])
            if tables["act_start"][e]:
                owner[slot] = k
            assert slot in owner
            assert tables["need"][k] & RATE
        for w in range(tables["fin_ptr"][k], tables["fin_ptr"][k + 1]):
            a, b, L = next((a, b, L) for a, b, L in rate_windows(steps) if b == k)
            assert owner[int(tables["fin_a"][w])] == a - L and owner[int(tables["fin_b"][w])] == b - L
            assert tables["fin_e"][w] == 1.0 / (b - a)
            closed += 1
    assert closed == len(rate_windows(steps))
    assert tables["slots"] < max(len(rate_windows(steps)), 1) * 2 or steps < 10  # slots are reused


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 16, 17, 130, 300])
def test_compiled_sums_take_numpys_order(n):
    terms = np.random.default_rng(n).standard_normal((4000, n)) ** 2 * np.logspace(-8, 8, n)
    names = {f"t{j}": terms[:, j] for j in range(n)}
    summed = eval(_sum_text([f"t{j}" for j in range(n)]), {}, names)  # noqa: S307 - the engine's own text
    np.testing.assert_array_equal(summed, np.add.reduce(terms, axis=-1))


@pytest.mark.parametrize("objective", ["evaluations_to_tol", "rate"])
def test_tuning_by_a_tracked_objective_runs_compiled_to_the_same_values(objective):
    from simulate.analysis.tune import tune

    lrs = np.geomspace(1e-3, 3e-2, 9)
    kw = dict(budget=150, objective=objective, grid={"lr": lrs}, runs=False, random_starts=3, seed=1)
    numpy = tune("himmelblau", ["momentum"], engine="numpy", **kw).results[0]
    compiled = tune("himmelblau", ["momentum"], engine="compiled", **kw).results[0]
    np.testing.assert_array_equal(compiled.values, numpy.values)
    assert np.any(np.isfinite(numpy.values))  # some cells reach the criterion / have a rate
