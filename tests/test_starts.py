"""Starts where nothing moves (issue 19): user-defined landscapes choose a default start where f is
finite and ∇f does not vanish; a stationary start is warned of, a start where the landscape is not
finite is refused before any work (or, for a flow from Python, reported as that member's data)."""

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import simulate as sim
from simulate.analysis.experiment import StartWarning, run_experiment
from simulate.cli.app import app
from simulate.landscapes.base import moving_start, start_trouble

SYMMETRIC = ["x**2 + 10*y**2", "x*y", "sin(x)*sin(y)", "x**2", "x1**2 + x2**2 + 3*x3**2", "x**4 - 2*x**2 + y**2"]


@pytest.mark.parametrize("formula", SYMMETRIC)
def test_a_formula_starts_where_it_is_finite_and_not_stationary(formula):
    land = sim.landscape(formula)
    start = land.default_start
    assert not np.allclose(start, land.bounds.mean(axis=1))  # the centre is a point of symmetry for all of these
    not_finite, stationary = start_trouble(land, start)
    assert not not_finite and not stationary
    assert np.linalg.norm(land.grad(start)) > 1e-3


def test_the_rule_passes_over_candidates_that_are_stationary_or_not_finite():
    first = sim.landscape("x**2 + 10*y**2").default_start  # the rule's first candidate, (2.5, 2)
    pinned = sim.landscape(f"(x - {first[0]})**2 + (y - {first[1]})**2")  # ... is this one's minimum
    outside = sim.landscape(f"log(x - {first[0] + 0.5}) + y**2")  # ... is outside this one's domain
    for land in (pinned, outside):
        start = land.default_start
        assert not np.allclose(start, first)
        assert not any(mask.item() for mask in start_trouble(land, start))
    assert np.all(moving_start(pinned) == pinned.default_start)  # the same rule, deterministic


def test_a_landscape_from_callables_gets_the_same_rule():
    land = sim.landscape_from(lambda x: np.sum(x**2, axis=-1), lambda x: 2 * x)
    assert not any(mask.item() for mask in start_trouble(land, land.default_start))
    given = sim.landscape_from(lambda x: np.sum(x**2, axis=-1), lambda x: 2 * x, start=(0.0, 0.0))
    assert np.all(given.default_start == 0.0)  # a start the user gives is kept


def test_start_trouble_tells_stationary_from_not_finite():
    land = sim.landscape("log(x) + y**2")
    not_finite, stationary = start_trouble(land, [[-1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert not_finite.tolist() == [True, False, False, True]
    assert stationary.tolist() == [False, False, False, False]  # ∂f/∂x = 1/x never vanishes
    _, stationary = start_trouble(sim.landscape("x**2 + 10*y**2"), [[0.0, 0.0], [1e-3, 0.0]])
    assert stationary.tolist() == [True, False]


def test_a_stationary_start_is_warned_of_and_a_non_finite_one_refused():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_experiment("x**2 + 10*y**2", ["gd(lr=0.01)"], [0.0, 0.0], 5)
    said = [str(w.message) for w in caught if issubclass(w.category, StartWarning)]
    assert len(said) == 1 and "vanishes at the start [0. 0.]" in said[0]
    with pytest.raises(ValueError, match=r"not finite at the start \[0. 1.\].*inside its domain"):
        run_experiment("1/x + y**2", ["gd(lr=0.01)"], [0.0, 1.0], 5)
    with warnings.catch_warnings(record=True) as caught:  # some of several starts: the others run
        warnings.simplefilter("always")
        e = run_experiment("log(x) + y**2", ["gd(lr=0.01)"], [[1.0, 1.0], [-1.0, 1.0]], 5)
    said = [str(w.message) for w in caught if issubclass(w.category, StartWarning)]
    assert len(said) == 1 and "not finite at 1 of 2 starts ([-1.  1.])" in said[0]
    assert np.all(np.isfinite(e.entries[0].iterates.x[:, 0]))


@pytest.mark.parametrize("opt", ["gd(lr=0.01)", "momentum(lr=0.01)", "adam(lr=0.01)"])
def test_a_flow_from_a_start_where_the_gradient_is_not_finite_fails_at_once_in_our_words(opt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the lift's first state either
        run = sim.integrate("1/x + y**2", opt, [[0.0, 1.0], [1.0, 1.0]], steps=20)
    assert run.status.tolist()[0] == 3 and run.status.tolist()[1] != 3  # FAILED, the other member ran
    assert "the field is not finite at the start" in run.message[0]
    assert run.stats["nfev"][0] <= 1  # refused before the solver took a step (it spun for minutes before)


def test_the_command_refuses_a_non_finite_start_and_warns_of_a_stationary_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused = CliRunner().invoke(app, ["plot", "-l", "1/x + y**2", "--start", "0,1", "--steps", "5", "--out", "a.png"])
    assert refused.exit_code != 0 and list(tmp_path.iterdir()) == []
    assert "not finite at the start [0. 1.]" in refused.output and "Traceback" not in refused.output
    warned = CliRunner().invoke(app, ["plot", "-l", "x**2 + 10*y**2", "--start", "0,0", "--steps", "5", "--out",
                                      "b.png"])
    assert warned.exit_code == 0 and (tmp_path / "b.png").exists()
    assert "warning: the gradient of x**2 + 10*y**2 vanishes at the start [0. 0.]" in warned.output


def test_a_number_is_a_start_on_a_1d_landscape():
    run = sim.iterate("x**4 - x**2", "gd(lr=0.1)", 2.0, 5)
    np.testing.assert_array_equal(run.x, sim.iterate("x**4 - x**2", "gd(lr=0.1)", [2.0], 5).x)
    with pytest.raises(ValueError, match="start point has a scalar"):
        sim.iterate("x**2 + y**2", "gd(lr=0.1)", 2.0, 5)


def test_sharpness_takes_a_landscape_by_name_like_every_other_function():
    assert sim.sharpness("quadratic(eigenvalues=(1, 10))", [1.0, 1.0]) == 10.0
    np.testing.assert_array_equal(sim.sharpness("himmelblau", [[1.0, 1.0], [np.nan, 0.0]])[1:], [np.nan])


def test_an_order_study_from_a_stationary_start_says_why_it_has_no_slope():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.order("x**2 + y**2", "gd(lr=0.01)", [0.0, 0.0], rungs=2)
    said = [str(w.message) for w in caught if issubclass(w.category, StartWarning)]
    assert len(said) == 1 and "vanishes at the start [0. 0.]" in said[0]
