"""simulate.tune: every optimizer's declared hyperparameters searched under one budget of gradient
evaluations, with exact oracles on a quadratic (issue 20: "compare them fairly"), and the marks of
``simulate list``.

On f = ½(x² + 10y²) (eigenvalues 1 and 10) GD contracts the mode λ by |1 − lr·λ| per step, so its
rate is max(|1 − lr|, |1 − 10·lr|), smallest at lr* = 2/(λmin + λmax) = 2/11 with rate 9/11.
"""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import simulate as sim
from simulate.analysis.tune import NOT_SEARCHED, OBJECTIVES, search_axes, tune
from simulate.cli.app import app, optimizer_marks
from simulate.optimizers import OPTIMIZERS, registered
from simulate.solvers.cost import TooLongError

Q = "quadratic(eigenvalues=(1, 10))"
LR_STAR = 2 / 11


def gd_rate(lr):
    lr = np.asarray(lr)
    return np.maximum(np.abs(1 - lr), np.abs(1 - 10 * lr))


@pytest.mark.parametrize("objective", ["rate", "final_loss"])
def test_the_tuned_lr_of_gd_on_a_quadratic_is_2_over_lmin_plus_lmax_to_grid_resolution(objective):
    lrs = np.geomspace(0.05, 0.4, 61)
    t = tune(Q, ["gd"], budget=200, objective=objective, grid={"lr": lrs}, runs=False)
    (r,) = t.results
    step = np.log(lrs[1] / lrs[0])
    assert abs(np.log(r.setting["lr"] / LR_STAR)) <= step  # the grid point next to lr* (or lr* itself)
    if objective == "rate":  # the measured rate is the analytic one, cell by cell
        stable = gd_rate(lrs) < 1
        # where the two modes contract at nearly one rate, 200 steps cannot tell which one leads
        clear = stable & (np.abs(np.abs(1 - lrs) - np.abs(1 - 10 * lrs)) > 0.02)
        np.testing.assert_allclose(r.values[clear], gd_rate(lrs)[clear], rtol=1e-6)
        assert np.all(r.values[~stable] == np.inf)  # diverged: the worst
        # at the grid's best cell the two modes contract at rates 1e-3 apart: measured over 200 steps
        # the slower start-weighted mode still leads, to that difference
        assert r.best == pytest.approx(float(gd_rate(lrs).min()), rel=1e-3)


def test_every_optimizer_spends_the_same_budget_of_gradient_evaluations():
    t = tune(Q, ["gd", "heun", "rk4"], budget=201, grid={"lr": [0.05, 0.1, 0.15]})
    steps = {r.name: (r.steps, r.evaluations_per_step, r.evaluations) for r in t.results}
    assert steps == {"gd": (201, 1, 201), "heun": (100, 2, 200), "rk4": (50, 4, 200)}
    rows = {row["optimizer"]: row for row in t.rows()}
    assert [rows[n]["steps"] for n in ("gd", "heun", "rk4")] == [201, 100, 50]
    for r, run in zip(t.results, t.runs):  # the comparison's runs have the same steps
        assert run.entries[0].iterates.x.shape[0] == r.steps + 1
        # the tuned cell's objective, from a separate run of the tuned optimizer
        alone = sim.iterate(Q, r.optimizer, t.starts[0], r.steps)
        assert r.best == pytest.approx(float(sim.landscape(Q).value(alone.x[-1])), rel=1e-9)


def test_the_settings_within_ten_percent_of_the_best_are_reported_as_the_analytic_range():
    lrs = 0.025 + 0.02 * np.arange(15)  # no grid point on the band's edges (0.0815, 0.19185)
    t = tune(Q, ["gd"], budget=300, objective="rate", grid={"lr": lrs}, runs=False)
    (r,) = t.results
    rates = gd_rate(lrs)
    near = rates <= 1.1 * rates.min()
    assert r.ranges["lr"] == (pytest.approx(lrs[near].min()), pytest.approx(lrs[near].max()))
    assert int(r.near.sum()) == int(near.sum()) == 6 and r.ties == 1 and r.at_edge == ()
    row = t.rows()[0]
    assert (row["lr_low"], row["lr_high"], row["near_best"]) == (r.ranges["lr"][0], r.ranges["lr"][1], 6)
    tied = tune(Q, ["gd"], budget=50, objective="rate", grid={"lr": [0.1, LR_STAR, LR_STAR]}, runs=False).results[0]
    assert tied.ties == 2  # said, not hidden
    edge = tune(Q, ["gd"], budget=50, objective="rate", grid={"lr": [0.01, 0.02, 0.03]}, runs=False).results[0]
    assert edge.at_edge == ("lr",)  # the best sits at the grid's edge: the optimum may lie beyond it


def test_divergence_of_one_start_makes_the_setting_worst():
    # from (1, 0) only the slow mode is excited: lr = 0.25 converges there and diverges from (1, 1)
    t = tune(Q, ["gd"], [[1.0, 0.0], [1.0, 1.0]], budget=200, grid={"lr": [0.1, 0.25]}, runs=False)
    (r,) = t.results
    assert np.isfinite(r.values[0]) and r.values[1] == np.inf and r.setting == {"lr": 0.1}
    assert r.diverged == 0.25  # one of the four runs
    alone = tune(Q, ["gd"], [1.0, 0.0], budget=200, grid={"lr": [0.1, 0.25]}, runs=False).results[0]
    assert np.all(np.isfinite(alone.values))
    never = tune(Q, ["gd"], budget=100, objective="evaluations_to_tol", grid={"lr": [1e-3, LR_STAR]}, runs=False)
    assert never.results[0].values[0] == np.inf and np.isfinite(never.results[0].values[1])


def test_the_grid_comes_from_the_declarations():
    def names(spec, grid=None):
        opt = sim.optimizer(spec)
        return [a.name for a in search_axes(opt, spec.split("(")[0], spec, grid)]

    assert names("gd") == ["lr"]  # momentum is fixed at 0 by the name, and dampening acts only with it
    assert names("momentum") == ["lr", "momentum", "dampening"]
    assert names("adam") == ["lr", "beta1", "beta2", "eps"]
    assert names("adam(eps=1e-8)") == ["lr", "beta1", "beta2"]  # the spec holds it
    assert names("gd", {"momentum": [0.5]}) == ["lr"]
    with pytest.raises(ValueError, match="sets eps and the grid searches eps"):
        names("adam(eps=1e-8)", {"eps": [1e-8, 1e-6]})
    for name, preset in registered().items():  # generic: every registered optimizer
        opt = preset()
        axes = search_axes(opt, name)
        assert axes[0].name == "lr" and axes[0].scale == "log"
        assert not set(NOT_SEARCHED) & {a.name for a in axes}
        assert set(a.name for a in axes) <= set(opt.sweepable())
    user = search_axes(sim.optimizer("adam"), "adam", grid=["lr=0.01:0.1:3:log", "beta1=0.9"])
    assert [(a.name, len(a)) for a in user] == [("lr", 3), ("beta1", 1), ("beta2", 5), ("eps", 5)]


def test_refusals_name_the_value_and_why():
    with pytest.raises(ValueError, match="Did you mean 'final_loss'"):
        tune(Q, ["gd"], objective="final_los")
    with pytest.raises(ValueError, match="rk4 takes 4 gradient evaluations per step: a budget of 3"):
        tune(Q, ["gd", "rk4"], budget=3)
    with pytest.raises(ValueError, match="none of gd, heun has a hyperparameter 'momentun'"):
        tune(Q, ["gd", "heun"], grid={"momentun": [0.9]})
    with pytest.raises(ValueError, match="lists none"):
        tune("saddle", ["gd"], objective="distance")
    with pytest.raises(TooLongError, match="time limit"):  # the estimate, before any work
        tune(Q, ["adam"], budget=100_000, time_limit=1e-3)
    assert set(OBJECTIVES) == {"final_loss", "distance", "evaluations_to_tol", "rate"}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    runner = CliRunner()
    import os

    here = os.getcwd()
    os.chdir(folder)
    try:
        result = runner.invoke(app, ["tune", "-l", Q, "-o", "gd", "-o", "heun", "-o", "momentum", "--vary",
                                     "lr=0.05:0.3:6:log", "--vary", "momentum=0,0.5", "--vary", "dampening=0",
                                     "--budget", "40", "--objective", "rate", "--data", "t.csv", "--out", "t.png"])
    finally:
        os.chdir(here)
    return folder, result


def test_the_command_writes_the_figure_the_table_and_a_record(cli_run):
    folder, result = cli_run
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == ["t.png", "t.csv", "t.json", "t.run.toml"]
    assert (folder / "t.png").read_bytes()[:4] == b"\x89PNG"
    with open(folder / "t.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = tune(Q, ["gd", "heun", "momentum"], budget=40, objective="rate",
             grid=["lr=0.05:0.3:6:log", "momentum=0,0.5", "dampening=0"], runs=False)
    # after the paths, the tuned table: the result's own text, one line per optimizer
    assert "\n".join(lines[4:]) == t.table() and len(lines) == 4 + 2 + 3
    assert [r["optimizer"] for r in rows] == ["gd", "heun", "momentum"]
    for read, row in zip(rows, t.rows()):  # read back: the same numbers, to the last bit
        assert read["tuned"] == row["tuned"] and int(read["steps"]) == row["steps"]
        assert float(read["value"]) == row["value"] and float(read["lr_low"]) == row["lr_low"]
        assert int(read["evaluations"]) == 40 and np.isnan(float(read["momentum"])) == (row["optimizer"] != "momentum")
    assert sim.optimizer(rows[1]["tuned"]) == t.results[1].optimizer
    report = json.loads((folder / "t.json").read_text())
    assert report["objective"] == "rate" and report["budget"] == 40
    assert report["optimizers"]["heun"]["steps"] == 20
    assert len(report["optimizers"]["momentum"]["objective_against_lr"]) == 6


def test_rerun_repeats_it(cli_run, tmp_path):
    folder, _ = cli_run
    written = sim.rerun(folder / "t.run.toml", out_dir=tmp_path / "again")
    assert [p.name for p in written] == ["t.png", "t.csv", "t.json", "t.run.toml"]
    assert (tmp_path / "again" / "t.csv").read_text() == (folder / "t.csv").read_text()
    assert (tmp_path / "again" / "t.json").read_text() == (folder / "t.json").read_text()


def test_list_marks_models_threshold_and_compiled_engine():
    marks = optimizer_marks(OPTIMIZERS)
    assert marks["gd"] == {"models": "exact,limit,modified,modified2", "threshold": "T", "compiled": "C"}
    assert {"oscillator", "highres"} <= set(marks["momentum"]["models"].split(",")) and marks["momentum"]["threshold"] == "T"
    assert marks["heun"]["threshold"] == "T" and marks["heun"]["compiled"] == "-"
    assert marks["adam"]["threshold"] == "-" and marks["adam"]["compiled"] == "C" and "ema" in marks["adam"]["models"]
    assert marks["nag-c"] == {"models": "limit,highres", "threshold": "-", "compiled": "-"}
    listed = CliRunner().invoke(app, ["list"]).output
    gd_line = next(line for line in listed.splitlines() if line.startswith("  gd "))
    assert gd_line.split()[1:4] == ["exact,limit,modified,modified2", "T", "C"]


def test_an_lr_the_spec_sets_is_held_and_lbfgs_is_charged_its_evaluations_per_step():
    # trial: tune searched lr even where the spec set it, and charged L-BFGS one evaluation per step;
    # one step evaluates at most min(max_iter, max_eval) times (max_eval = 5 here, max_iter 4)
    t = sim.tune("quadratic", ["gd(lr=0.1)", "lbfgs(max_iter=4)"], budget=20)
    gd, lbfgs = t.results
    assert [list(a.values) for a in gd.axes] == [[0.1]] and float(gd.optimizer.lr) == 0.1
    assert lbfgs.evaluations_per_step == 4 and lbfgs.steps == 5 and lbfgs.evaluations == 20


def test_a_hyperparameter_that_is_no_sweep_axis_is_said_so():
    with pytest.raises(ValueError, match="history_size is not a sweep axis"):
        sim.sweep("rosenbrock", "lbfgs", ["history_size=2,5"])


def test_the_figures_log_axes_stop_at_rounding_not_at_denormals():
    # trial: runs that reach the minimum drew f − f* down to 1e-316 and squashed every curve
    from simulate.viz.tuning import tune_figure

    fig = tune_figure(sim.tune("quadratic(eigenvalues=(1, 10))", ["gd", "polyak"], budget=200))
    logs = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert logs
    for ax in logs:
        top = max(np.nanmax(np.ravel(line.get_ydata())) for line in ax.lines)
        assert ax.get_ylim()[0] >= 1e-16 * top * (1 - 1e-9)


def test_the_table_names_each_setting_its_objective_and_the_range_near_the_best():
    t = tune(Q, ["gd", "momentum"], budget=40, grid=["lr=0.05:0.3:6:log", "momentum=0,0.5", "dampening=0"],
             runs=False)
    head, columns, gd, momentum = t.table().splitlines()
    assert head.startswith("tuned by final_loss (mean over 1 start) on quadratic") and "40 gradient evaluations" in head
    assert columns.split()[:3] == ["optimizer", "final_loss", "tuned"] and columns.endswith("within 10% of the best")
    for line, r in zip((gd, momentum), t.results):
        assert line.split()[:2] == [r.name, f"{r.best:.4g}"]
        assert " ".join(f"{k}={v:.4g}" for k, v in r.setting.items()) in line
        assert f"{int(r.near.sum())} of {r.values.size}: lr " in line
    lo, hi = t.results[1].ranges["lr"]
    assert (f"lr {lo:.4g}…{hi:.4g}" if lo != hi else f"lr {lo:.4g}") in momentum


def test_a_name_that_narrows_its_family_is_searched_where_it_is_valid():
    # nesterov fixes dampening at 0 and refuses momentum 0 (as torch): its grid leaves both out
    from simulate.analysis.tune import search_axes

    axes = {a.name: a.values for a in search_axes(sim.optimizer("nesterov"), "nesterov")}
    assert "dampening" not in axes and axes["momentum"].min() > 0
    tuned = sim.tune("himmelblau", ["nesterov"], budget=40, runs=False).results[0]
    assert np.isfinite(tuned.best) and tuned.setting["momentum"] > 0


def test_an_optimizer_inside_lookahead_is_searched_by_its_own_hyperparameters():
    # the inner adam's lr, betas and eps are the axes; lookahead=5 sets k (and alpha), so neither is searched
    given = "adam(lookahead=5)"
    axes = [a.name for a in search_axes(sim.optimizer(given), "adam", given)]
    assert axes[0] == "lr" and {"beta1", "beta2", "eps"} <= set(axes) and not {"k", "alpha"} & set(axes)
    tuned = tune("himmelblau", [given], budget=20, runs=False).results[0]
    assert tuned.optimizer.k == 5 and tuned.setting["lr"] in search_axes(sim.optimizer(given), "adam", given)[0].values


def test_the_rerun_command_prints_the_table_too(cli_run, tmp_path):
    folder, result = cli_run
    again = CliRunner().invoke(app, ["rerun", str(folder / "t.run.toml"), "--out-dir", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[4:] == result.output.splitlines()[4:]  # the same table, after the paths


def test_a_best_that_stands_alone_is_said_to():
    # on Rosenbrock within 200 evaluations Adam's best is a chaotic run that happened to end low:
    # every neighbouring setting on the grid scores over 10x worse
    r = tune("rosenbrock", ["adam"], runs=False).results[0]
    neighbours = [r.values[r.cell[:a] + (j,) + r.cell[a + 1:]] for a, i in enumerate(r.cell)
                  for j in (i - 1, i + 1) if 0 <= j < r.values.shape[a]]
    assert r.isolated and min(neighbours) >= 10 * r.best
    smooth = tune(Q, ["gd"], budget=40, objective="rate").results[0]
    assert not smooth.isolated  # a quadratic's rate changes smoothly with lr


def test_searches_of_very_different_sizes_are_said_in_the_table():
    t = tune(Q, ["gd", "adam"], budget=20, runs=False)
    sizes = [r.values.size for r in t.results]
    assert sizes[1] > 10 * sizes[0]
    assert f"the searches differ in size ({sizes[0]} to {sizes[1]} settings" in t.table().splitlines()[1]
    same = tune(Q, ["gd", "momentum"], budget=20, runs=False, grid=["lr=0.05:0.3:6:log", "momentum=0,0.5", "dampening=0"])
    assert "differ in size" not in same.table()
