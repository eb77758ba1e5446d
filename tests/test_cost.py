"""Issue 19: one time estimate for every command (refused before any work), progress weighted by
it, and the compiled flow solver chosen automatically where it applies."""

import contextlib
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import simulate as sim
import simulate.analysis.sweep as sweep_module
from simulate.analysis.sweep import SlowFlowWarning, sweep
from simulate.cli.app import app
from simulate.cli.options import COMMANDS
from simulate.io.progress import progress_bar
from simulate.landscapes import landscape
from simulate.models import flow as make_flow
from simulate.solvers import cost
from simulate.solvers.continuous import integrate
from simulate.solvers.fastflow import auto_method


def _recording_bar(monkeypatch):
    """Replace the sweep's progress bar by the silent one, kept with the amount done after each advance."""
    bars = []

    @contextlib.contextmanager
    def recorded(total, description, **kwargs):
        with progress_bar(total, description, enabled=False) as bar:
            bar.history = []
            advance = bar.advance

            def advance_and_note(n=1):
                advance(n)
                bar.history.append(bar.done)

            bar.advance = advance_and_note
            bars.append(bar)
            yield bar

    monkeypatch.setattr(sweep_module, "progress_bar", recorded)
    return bars


def _no_work(monkeypatch):
    """Make any iterate, compiled run or flow solve of a sweep fail the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("work was done before the refusal")

    for name in ("advance", "compiled_run", "integrate"):
        monkeypatch.setattr(sweep_module, name, forbidden)


# -- weighted progress ---------------------------------------------------------------------------
def test_a_weighted_bar_counts_weights_whether_shown_or_not():
    with progress_bar(2.5, "work", enabled=False, weighted=True) as bar:
        bar.advance(0.5)
        bar.advance(2.0)
    assert (bar.total, bar.done) == (2.5, 2.5)


def test_a_sweep_with_flows_advances_by_estimated_seconds_not_by_counting_flows_as_steps(monkeypatch):
    bars = _recording_bar(monkeypatch)
    steps, cells = 50, 3
    result = sweep("rosenbrock", "momentum", f"lr=1e-4:1e-3:{cells}", steps=steps, flow="exact", method="LSODA")
    bar = bars[0]
    total = result.stats["estimated_seconds"]
    assert bar.total == total and bar.done == pytest.approx(total)  # the bar's total is the sum of the weights
    steps_seconds = cost.discrete_seconds(cells, steps)  # tracked metrics: the numpy loop's cost per step
    after_steps = bar.history[steps]  # every step advanced (and the final zero for a run that did not stop early)
    assert after_steps == pytest.approx(steps_seconds)
    # LSODA on the momentum lift costs far more than 50 steps of 3 cells: counting each flow as one step
    # would put the bar at 50/53 = 94% here and its time remaining far too low
    assert after_steps / total < 0.1
    flows = bar.history[steps + 1:]
    assert len(flows) == cells and np.all(np.diff(flows) > 0)


# -- the time limit ------------------------------------------------------------------------------
def test_a_sweep_over_its_time_limit_is_refused_before_any_work(monkeypatch):
    _no_work(monkeypatch)
    with pytest.raises(cost.TooLongError, match=r"fewer --steps.*--time-limit"):
        sweep("rosenbrock", "gd", "lr=1e-4:1e-3:61", steps=10**12)
    with pytest.raises(cost.TooLongError, match="time limit is 10 s"):
        sweep("rosenbrock", "gd", "lr=1e-4:1e-3:61", steps=10**9, time_limit=10)


def test_the_estimate_is_accepted_just_under_the_limit_and_refused_just_over():
    run = dict(optimizers="gd", landscape="himmelblau", axes="lr=1e-3:1e-2:4", steps=30)
    seconds = sweep(**run).stats["estimated_seconds"]
    assert seconds == pytest.approx(cost.discrete_seconds(4, 30))
    assert sweep(**run, time_limit=seconds * 1.001).stats["estimated_seconds"] == seconds
    with pytest.raises(cost.TooLongError):
        sweep(**run, time_limit=seconds * 0.999)
    with cost.time_limit(seconds * 0.999):  # the limit in force, e.g. the command's --time-limit
        with pytest.raises(cost.TooLongError):
            sweep(**run)
        assert sweep(**run, time_limit=0).steps == 30  # 0 and None: no limit
        assert sweep(**run, time_limit=None).steps == 30


def test_a_bad_time_limit_is_named():
    with pytest.raises(ValueError, match="time_limit must be a number of seconds >= 0"):
        sweep("himmelblau", "gd", "lr=1e-3:1e-2:4", steps=3, time_limit=-1)


def test_every_command_checks_its_estimate_before_any_work(monkeypatch):
    import simulate.analysis.order as order_module
    import simulate.viz.figures as figures

    def forbidden(*args, **kwargs):
        raise AssertionError("work was done before the refusal")

    for module, name in ((figures, "run_experiment"), (figures, "ensemble"), (order_module, "iterate")):
        monkeypatch.setattr(module, name, forbidden)
    _no_work(monkeypatch)
    tiny = 1e-6
    calls = {
        "plot": dict(landscape="rosenbrock", steps=1000),
        "order": dict(landscape="rosenbrock"),
        "sweep": dict(optimizers=["gd"], landscape="rosenbrock", axes=["lr=1e-4:1e-3:5"], steps=100),
        "rate-map": dict(landscape="rosenbrock", steps=100),
    }
    for command, arguments in calls.items():
        assert COMMANDS[command].option("time_limit").default == cost.DEFAULT_TIME_LIMIT
        with pytest.raises(cost.TooLongError, match="the time limit is 1e-06 s"):
            COMMANDS[command].function()(**arguments, time_limit=tiny)
    with pytest.raises(cost.TooLongError, match="--paths"):  # the noisy plot: an ensemble of paths and their SDE
        COMMANDS["plot"].function()(landscape="rosenbrock", steps=100, noise=0.5, time_limit=tiny)


def test_the_command_line_refuses_an_endless_sweep_at_once_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _no_work(monkeypatch)
    result = CliRunner().invoke(app, ["sweep", "--steps", "1000000000000"])
    assert result.exit_code != 0
    assert "would take about" in result.output and "--time-limit" in result.output
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(app, ["sweep", "--time-limit", "-1"])
    assert result.exit_code != 0 and "time-limit" in result.output


# -- method auto ---------------------------------------------------------------------------------
def test_auto_picks_the_compiled_solver_for_gd_on_rosenbrock_and_lsoda_where_it_does_not_apply():
    rosenbrock = landscape("rosenbrock")
    gd = make_flow(sim.optimizer("gd", lr=1e-3), "exact")
    assert auto_method(gd, rosenbrock, 1e-8) == "RK45-compiled"
    assert auto_method(gd, rosenbrock, 1e-13) == "LSODA"  # below the compiled solver's reach
    assert auto_method(gd, rosenbrock, 1e-8, own_steps=True) == "LSODA"  # max_step: solve_ivp's
    assert auto_method(make_flow(sim.optimizer("momentum", lr=1e-3), "exact"), rosenbrock, 1e-8) == "LSODA"
    assert auto_method(gd, landscape("quadratic(dim=3)"), 1e-8) == "LSODA"  # 3-D


def test_integrate_auto_agrees_with_lsoda_and_says_which_method_ran():
    starts = np.array([[-1.5, 2.0], [0.0, 0.0], [1.5, 1.5]])
    opt = sim.optimizer("gd", lr=1e-3)
    t = np.linspace(0, 2, 5)
    auto = integrate("rosenbrock", opt, starts, t, method="auto")
    lsoda = integrate("rosenbrock", opt, starts, t, method="LSODA")
    assert auto.stats["method"] == "RK45-compiled" and lsoda.stats["method"] == "LSODA"
    np.testing.assert_allclose(auto.x, lsoda.x, rtol=0, atol=1e-5)
    momentum = integrate("rosenbrock", sim.optimizer("momentum", lr=1e-3), starts[:1], t, method="auto")
    assert momentum.stats["method"] == "LSODA"


def test_a_sweep_records_which_method_integrated_each_flow():
    # 40 cells to t = 1..10: LSODA would take seconds, so auto takes the compiled solver
    result = sweep("rosenbrock", "gd", "lr=1e-3:1e-2:40", steps=1000, flow="exact", track=())
    assert result.stats["method"] == "auto" and result.stats["flow_methods"] == {"gd flow": "RK45-compiled"}
    report = result.report()["members"]
    assert report["gd flow"]["method"] == "RK45-compiled" and "method" not in report["gd"]
    momentum = sweep("rosenbrock", "momentum", "lr=1e-3:1e-2:2", steps=10, flow="exact", track=())
    assert momentum.stats["flow_methods"] == {"momentum flow": "LSODA"}


def test_sweep_flows_by_auto_agree_with_lsoda():
    run = dict(optimizers="gd", landscape="rosenbrock", axes="lr=1e-3:1e-2:3", steps=200, flow="exact", track=())
    lsoda = sweep(**run, method="LSODA")
    compiled = sweep(**run, method="RK45-compiled")
    assert lsoda.stats["flow_methods"] == {"gd flow": "LSODA"}
    np.testing.assert_allclose(compiled.metric("final_loss", "gd flow"), lsoda.metric("final_loss", "gd flow"),
                               rtol=1e-5, atol=1e-10)


def test_slow_flows_say_what_would_be_faster(monkeypatch):
    monkeypatch.setattr(sweep_module, "SLOW_FLOWS", 0.0)  # every flow counts as slow here
    run = dict(landscape="rosenbrock", axes="lr=1e-4:1e-3:2", steps=20, flow="exact")
    with pytest.warns(SlowFlowWarning, match="RK45-compiled does not apply"):
        sweep(optimizers="momentum", **run)
    with pytest.warns(SlowFlowWarning, match="--method auto"):
        sweep(optimizers="gd", **run, method="LSODA")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowFlowWarning)
        sweep(optimizers="gd", **run, method="RK45-compiled")


# -- the cost model ------------------------------------------------------------------------------
def test_flow_evaluations_grow_with_the_horizon_and_stop_at_the_budget():
    tr = np.array([1.0, 1e2, 1e4, 1e6])
    for method in ("RK45-compiled", "LSODA", "DOP853"):
        evaluations = cost.flow_evaluations(method, tr, 1e-8, 1e5)
        assert np.all(np.diff(evaluations) >= 0) and evaluations[0] > 0 and evaluations[-1] <= 1e5
    # stiff: LSODA's count grows like log(T·ρ), an explicit method's like T·ρ
    assert cost.flow_evaluations("LSODA", [1e5], 1e-8, 1e9)[0] < cost.flow_evaluations("RK45", [1e5], 1e-8, 1e9)[0] / 100


def test_the_stiffness_proxy_is_the_hessian_s_largest_eigenvalue_for_the_gradient_flow():
    land = landscape("quadratic(eigenvalues=[1, 50])")
    probe = cost.stiffness(make_flow(sim.optimizer("gd", lr=0.01), "exact"), land, np.array([[1.0, 2.0], [0.5, 0.0]]))
    np.testing.assert_allclose(probe.rho, 50.0, rtol=1e-5)
    assert not probe.oscillating.any() and probe.components == 1
    # heavy ball's lift (velocity, x): complex eigenvalues where lr·λ is small against (1 − β)²
    lift = cost.stiffness(make_flow(sim.optimizer("momentum", lr=0.01, momentum=0.9), "exact"), land,
                          np.array([[1.0, 2.0]]))
    assert lift.oscillating.all() and lift.components == 2 and np.all(lift.omega <= lift.rho)


def test_an_estimate_reads_as_a_duration():
    estimate = cost.Estimate((("steps", 30.0), ("flows", 7200.0)))
    assert estimate.seconds == 7230.0
    assert estimate.describe() == "about 2.01 h (flows: 2 h)"
    assert cost.duration(4e13) == "1.3e+06 years"
