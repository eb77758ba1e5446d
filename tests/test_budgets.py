"""Every flow is bounded in wall time as well as in field evaluations (issue 19): a member whose
budget ends is stopped as failed, its samples so far kept, and the budget is named in its message
and in the one line the command says. Deterministic: a budget of 1e-9 s is spent before the first
step, and the clock itself is replaced where a step must overrun."""

import types

import numpy as np
import pytest


def test_a_spent_wall_time_budget_stops_every_member_as_failed_and_names_the_budget():
    from simulate.solvers.continuous import integrate

    traj = integrate("rosenbrock", "gd(lr=0.01)", [[-1.0, 1.0], [0.5, 0.5]], steps=100, max_seconds=1e-9)
    assert traj.status.tolist() == [3, 3]
    for message in traj.message:
        assert message.startswith("solver stopped at t = 0: its wall-time budget of 1e-09 s ran out after ")
        assert "try another method, a larger time budget, or fewer steps" in message
    assert np.array_equal(traj.x[0], [[-1.0, 1.0], [0.5, 0.5]]) and np.all(np.isnan(traj.x[2:]))  # the start kept
    assert traj.stats["max_seconds"] == 1e-9


def test_the_default_budget_is_generous_and_none_or_inf_is_no_bound():
    from simulate.solvers.continuous import MAX_SECONDS, Stepping, integrate
    from simulate.cli.options import FLOW_SECONDS

    assert FLOW_SECONDS == MAX_SECONDS == 60.0  # the CLI's default is the library's
    assert integrate("rosenbrock", "gd(lr=0.01)", [-1.0, 1.0], steps=50).status == 0
    free = integrate("rosenbrock", "gd(lr=0.01)", [-1.0, 1.0], steps=50, stepping=Stepping(max_seconds=None))
    assert free.status == 0 and free.stats["max_seconds"] == np.inf
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_seconds must be a positive number of seconds or None"):
            Stepping(max_seconds=bad)


def test_a_step_that_overruns_the_budget_twice_is_cut_inside_the_field(monkeypatch):
    import simulate.solvers.continuous as continuous

    clock = iter(range(0, 10**9, 1000))  # every reading 1000 s after the last
    monkeypatch.setattr(continuous, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    traj = continuous.integrate("rosenbrock", "gd(lr=0.01)", [-1.0, 1.0], steps=20, max_seconds=10.0)
    assert traj.status == 3 and "wall-time budget of 10 s ran out after 1 field evaluations" in traj.message
    assert np.array_equal(traj.x[0], [-1.0, 1.0]) and np.all(np.isnan(traj.x[1:]))


def test_the_evaluation_budget_keeps_its_own_message():
    from simulate.solvers.continuous import integrate

    traj = integrate("rosenbrock", "gd(lr=0.01)", [-1.0, 1.0], steps=100, max_evaluations=50)
    assert traj.status == 3 and "more than 50 field evaluations" in traj.message


def test_a_budget_ended_flow_is_one_line_naming_the_budget_and_its_option():
    from simulate.analysis.experiment import run_experiment

    e = run_experiment("rosenbrock", ["gd(lr=0.001)"], start=[[-1.0, 1.0], [0.5, 0.5]], steps=30, max_seconds=1e-9)
    lines = e.flow_failures()
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "its wall-time budget of 1e-09 s ran out" in line
        assert "(try --flow-seconds, --method or fewer --steps, or --flow with another model: limit" in line
    assert np.all(np.isfinite(e.entries[0].iterates.x))  # the iterates ran in full


def test_order_and_noisy_plot_take_the_budget():
    import simulate as sim

    with pytest.warns(UserWarning, match="fewer than two rungs have an error"):
        result = sim.order("himmelblau", "gd(lr=0.01)", rungs=2, max_seconds=1e-9)
    assert all(s.startswith("the flow solver stopped at t = 0: its wall-time budget") for s in result.status)
    ens = sim.plot("himmelblau", ["sgd(lr=0.01)"], steps=10, noise=0.5, paths=3, max_seconds=1e-9).experiment
    assert ens.entries[0].flow.status == 3 and "wall-time budget" in ens.entries[0].flow.message


def test_plot_says_a_budget_ended_flow_on_the_terminal(tmp_path, capsys):
    from simulate.cli.app import main

    code = main(["plot", "-o", "gd(lr=0.01)", "--steps", "5", "--flow-seconds", "1e-9", "--max-evaluations", "500",
                 "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and len(err) == 1
    assert err[0].startswith("warning: gd(lr=0.01): its exact flow was not integrated to the end: solver stopped at t = 0: "
                             "its wall-time budget of 1e-09 s ran out")
    record = (tmp_path / "p.run.toml").read_text()
    assert "flow_seconds = 1e-09" in record and "max_evaluations = 500" in record


def test_flow_seconds_zero_is_no_bound_and_negative_is_refused():
    from simulate.cli.runs import validate
    from simulate.cli.options import COMMANDS

    options = validate("plot", {"flow_seconds": 0})
    assert COMMANDS["plot"].call(options)["max_seconds"] is None
    assert COMMANDS["order"].call(validate("order", {"flow_seconds": 2.5}))["max_seconds"] == 2.5
    with pytest.raises(ValueError, match="flow_seconds: must be a positive finite number"):
        validate("plot", {"flow_seconds": -1})


def test_a_sweep_says_its_budget_ended_flows_in_one_line_per_member(tmp_path, capsys):
    import warnings

    from simulate.analysis.experiment import FlowWarning
    from simulate.analysis.sweep import sweep
    from simulate.cli.app import main

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = sweep("rosenbrock", ["gd", "momentum"], "lr=1e-4:1e-3:3", steps=20, flow="exact", method="LSODA",
                  max_seconds=1e-9)
    said = [str(w.message) for w in caught if issubclass(w.category, FlowWarning)]
    assert len(said) == 2 and said[0].startswith("gd flow: 3 of 3 cells were not integrated to the end (the first: "
                                                 "solver stopped at t = 0: its wall-time budget of 1e-09 s ran out")
    assert np.all(np.isnan(s.metric("final_loss", "gd flow"))) and np.all(np.isfinite(s.metric("final_loss", "gd")))
    with warnings.catch_warnings(record=True) as caught:  # within the budget: nothing said
        warnings.simplefilter("always")
        sweep("rosenbrock", "gd", "lr=1e-4:1e-3:2", steps=20, flow="exact", method="LSODA")
    assert not [w for w in caught if issubclass(w.category, FlowWarning)]
    code = main(["sweep", "-l", "rosenbrock", "-o", "gd", "--vary", "lr=1e-4:1e-3:2", "--steps", "20", "--flow",
                 "exact", "--method", "LSODA", "--flow-seconds", "1e-9", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and len(err) == 1 and err[0].startswith("warning: gd flow: 2 of 2 cells were not integrated")
