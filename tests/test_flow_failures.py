"""A continuous model that cannot be integrated to the end is said, one line per member, with the
solver's reason and what to try (issue 19); the command prints these lines."""

import numpy as np


def test_a_flow_that_is_not_integrated_to_the_end_is_said_in_one_line_per_member():
    from simulate.analysis.experiment import run_experiment

    e = run_experiment("rosenbrock", ["adam(lr=0.1)", "gd(lr=0.001)"], start=[[-1.0, 1.0], [0.5, 0.5]], steps=300,
                       max_evaluations=400)
    lines = e.flow_failures()
    failed = [np.flatnonzero(np.ravel(entry.flow.status) == 3) for entry in e.entries]
    assert len(lines) == sum(map(len, failed)) >= 1
    for line in lines:
        assert "\n" not in line and "was not integrated to the end: solver failed at t = " in line
        assert "more than 400 field evaluations" in line and "try --method" in line
    assert all("adam(lr=0.1)" in line for line in lines[:len(failed[0])])
    assert "limit, ema" in lines[0]  # the other models that apply
    assert run_experiment("quadratic", ["gd(lr=0.01)"], steps=20).flow_failures() == []


def test_plot_says_each_failed_flow_on_the_terminal_and_still_writes_the_figure(tmp_path, monkeypatch, capsys):
    import warnings

    import simulate as sim
    from simulate.analysis.experiment import FlowWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sim.plot("log(x**2 + y**2)", ["gd(lr=0.01)"], start=[1.0, 0.5], steps=40, max_evaluations=300)
    said = [str(w.message) for w in caught if issubclass(w.category, FlowWarning)]
    assert len(said) == 1 and said == result.experiment.flow_failures()  # the flow runs into log's pole at 0
    assert "gd(lr=0.01): its exact flow was not integrated to the end" in said[0]
    assert "stopped early" in result.figure.axes[1].get_legend().get_texts()[0].get_text()  # and the figure says it


def test_a_flow_whose_first_step_fails_is_data_not_a_crash():
    import simulate as sim

    # DOP853 on GD's second-order modified field cannot take a first step at atol 1e-200 (scipy
    # then returns lists, not arrays): every rung is reported, nothing raises
    result = sim.order("himmelblau", "gd(lr=0.01)", flow="modified2", atol=1e-200, rungs=3)
    assert len(result.status) == 3
    assert all(s.startswith("the flow solver failed at t = 0") for s in result.status)
    assert np.all(np.isnan(result.error))


def test_where_lsoda_itself_fails_the_default_method_retries_with_bdf_and_says_so(monkeypatch):
    """LSODA's own failures depend on rounding (seen on one CPU, not another): the default method
    retries that start with BDF, and the record says so; a method asked for by name is not replaced."""
    import simulate as sim
    from simulate.solvers import continuous

    real = continuous._solve_member
    methods = []

    def lsoda_fails(model, landscape, x0, times, stepping, tolerances, radius):
        methods.append(stepping.method)
        sol = real(model, landscape, x0, times, stepping, tolerances, radius)
        if stepping.method == "LSODA":  # as LSODA reports it: a negative status, its own message
            sol.status, sol.message = -1, "Unexpected istate in LSODA."
        return sol

    monkeypatch.setattr(continuous, "_solve_member", lsoda_fails)
    exact = sim.integrate("quadratic", "gd(lr=0.1)", [1.0, 1.0], steps=20, method="BDF")
    methods.clear()
    traj = sim.integrate("quadratic", "gd(lr=0.1)", [[1.0, 1.0], [-1.0, 0.5]], steps=20)
    assert methods == ["LSODA", "BDF"] * 2 and traj.stats["fallback"] == "BDF where LSODA failed (2 of 2 starts)"
    np.testing.assert_array_equal(traj.x[:, 0], exact.x)  # the retry is BDF's own solve
    assert not np.any(traj.status == sim.solvers.trajectory.FAILED)
    methods.clear()
    asked = sim.integrate("quadratic", "gd(lr=0.1)", [1.0, 1.0], steps=20, method="LSODA")
    assert methods == ["LSODA"] and "fallback" not in asked.stats
    assert asked.status == sim.solvers.trajectory.FAILED and "Unexpected istate" in asked.message
