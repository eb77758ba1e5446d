"""Sweeps: the same numbers as separate runs, divergence boundaries where theory puts them, basins
that agree with a slow loop, metrics against their definitions, figures that draw the data."""

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import simulate as sim
from simulate.cli.app import main
from simulate.viz.figures import sweep_figure
from simulate.viz.heatmaps import edges, plot_basins, plot_sweep
from simulate.analysis.sweep import Axis, parse_axis, sweep

QUAD = "quadratic(eigenvalues=(1, 10))"


def test_a_sweep_gives_the_same_numbers_as_separate_runs():
    lrs, mus = [1e-4, 1e-3, 2e-3, 5e-3], [0.0, 0.5, 0.9]
    s = sweep("rosenbrock", "sgd", [Axis("lr", lrs), Axis("momentum", mus)], steps=400, tol=1e-3)
    f_star = 0.0
    for i, lr in enumerate(lrs):
        for j, mu in enumerate(mus):
            run = sim.iterate("rosenbrock", sim.optimizer("sgd", lr=lr, momentum=mu), steps=400)
            cell = (0, i, j)
            assert s.metrics["diverged_at"][cell] == run.diverged_at
            if run.diverged:
                assert np.isnan(s.metrics["final_loss"][cell])
                continue
            assert s.metrics["final_loss"][cell] == run.f[-1]  # bit for bit: the same float64 operations
            hit = np.nonzero(run.f - f_star <= 1e-3)[0]
            assert s.metrics["steps_to_tol"][cell] == (hit[0] if hit.size else -1)


def test_every_optimizer_sweeps_its_own_hyperparameters_like_separate_runs():
    s = sweep("himmelblau", ["adam", "rmsprop"], ["lr=0.01,0.1", "eps=1e-8,1e-3"], steps=50)
    for m, name in enumerate(["adam", "rmsprop"]):
        for i, lr in enumerate([0.01, 0.1]):
            for j, eps in enumerate([1e-8, 1e-3]):
                run = sim.iterate("himmelblau", sim.optimizer(name, lr=lr, eps=eps), steps=50)
                np.testing.assert_allclose(s.metrics["final_loss"][m, i, j], run.f[-1], rtol=1e-13)
    s = sweep("himmelblau", "adam", ["beta1=0.5,0.9", "beta2=0.9,0.999"], steps=30)
    run = sim.iterate("himmelblau", sim.optimizer("adam", betas=(0.5, 0.999)), steps=30)
    np.testing.assert_allclose(s.metric("final_loss")[0, 1], run.f[-1], rtol=1e-13)


def test_gd_diverges_exactly_above_two_over_lambda_max_to_grid_resolution():
    axis = Axis.log("lr", 0.05, 0.5, 121)  # 2/λmax = 0.2 inside
    s = sweep(QUAD, "gd", [axis], steps=3000)
    diverged = s.metric("diverged").astype(bool)
    first = axis.values[np.argmax(diverged)]
    assert np.all(diverged == (axis.values > first - 1e-15))  # one switch, from stable to diverged
    ratio = axis.values[1] / axis.values[0]
    assert 0.2 <= first <= 0.2 * ratio
    assert s.reference_sharpness == pytest.approx(10.0)


@pytest.mark.parametrize("name, boundary", [
    ("momentum", lambda mu: 2 * (1 + mu) / 10),
    ("nesterov", lambda mu: (2 + 2 * mu) / ((1 + 2 * mu) * 10)),
])
def test_momentum_divergence_boundary_matches_the_analytic_threshold(name, boundary):
    lr, mu = Axis.log("lr", 0.02, 1.0, 90), Axis.linear("momentum", 0.05, 0.95, 12)
    s = sweep(QUAD, name, [lr, mu], steps=4000)
    diverged = s.metric("diverged").astype(bool)
    predicted = lr.values[:, None] > boundary(mu.values)[None, :]
    wrong = diverged != predicted
    # Only the cell on each side of the boundary may disagree (growth there is slower than the run).
    near = np.zeros_like(wrong)
    near[1:] |= predicted[1:] != predicted[:-1]
    near[:-1] |= predicted[1:] != predicted[:-1]
    assert not np.any(wrong & ~near), np.argwhere(wrong & ~near)
    assert diverged.sum() > 100 and (~diverged).sum() > 100


def test_basin_labels_agree_with_a_slow_reference_loop():
    s = sweep("himmelblau", ["gd(lr=0.01)", "momentum(lr=0.005)"], ["x=-5:5:25", "y=-5:5:25"], steps=400)
    rng = np.random.default_rng(0)
    for m, spec in enumerate(["gd(lr=0.01)", "momentum(lr=0.005)"]):
        for i, j in rng.integers(0, 25, size=(25, 2)):
            start = s.start[i, j]
            run = sim.iterate("himmelblau", spec, start, 400)
            d = np.linalg.norm(sim.landscape("himmelblau").minima - run.final, axis=-1)
            expected = -2 if run.diverged else (int(np.argmin(d)) if d.min() <= s.near else -1)
            assert s.metrics["minimum"][m, i, j] == expected
    labels = s.metric("minimum", 0)
    assert set(np.unique(labels)) >= {0, 1, 2, 3}  # all four of Himmelblau's basins show up


def test_rate_is_the_slowest_mode_of_gd_on_a_quadratic():
    lrs = [0.01, 0.05, 0.1]
    s = sweep(QUAD, "gd", [Axis("lr", lrs)], start=[1.0, 0.0], steps=200)  # on the slow eigenvector
    np.testing.assert_allclose(s.metric("rate"), 1 - np.array(lrs), rtol=1e-12)
    mixed = sweep(QUAD, "gd", [Axis("lr", lrs)], steps=200)  # the fast mode has died out by the window
    np.testing.assert_allclose(mixed.metric("rate"), 1 - np.array(lrs), rtol=1e-7)


def test_record_every_keeps_the_paths_of_separate_runs():
    s = sweep("himmelblau", "gd", ["lr=0.001,0.01"], steps=25, record_every=10)
    assert list(s.path_steps) == [0, 10, 20, 25]
    for i, lr in enumerate([0.001, 0.01]):
        run = sim.iterate("himmelblau", sim.optimizer("gd", lr=lr), steps=25)
        np.testing.assert_array_equal(s.paths[0, :, i], run.x[[0, 10, 20, 25]])


def test_divergence_is_data_and_paths_end_in_nan():
    s = sweep(QUAD, "gd", ["lr=0.1,0.5"], steps=200, record_every=50)
    assert list(s.metric("diverged")) == [0, 1]
    assert s.metric("diverged_at")[1] > 0 and np.isnan(s.metric("final_loss")[1])
    assert s.metric("minimum")[1] == -2 and np.isnan(s.paths[0, -1, 1]).all()


def test_flow_endpoints_and_distance_match_integrate():
    s = sweep("himmelblau", "gd", ["lr=0.01,0.02"], steps=50, flow="exact")
    assert s.members == ("gd", "gd flow") and s.kinds == ("iterates", "flow")
    for i, lr in enumerate([0.01, 0.02]):
        opt = sim.optimizer("gd", lr=lr)
        run = sim.iterate("himmelblau", opt, steps=50)
        # the solver the sweep ran: "auto" picks LSODA for a few quick solves until the compiled one is loaded
        flow = sim.integrate("himmelblau", opt, t=[0.0, 50 * lr], method=s.stats["flow_methods"]["gd flow"])
        assert s.metric("final_loss", "gd flow")[i] == pytest.approx(flow.f[-1], rel=1e-12)
        assert s.metric("flow_distance")[i] == pytest.approx(np.linalg.norm(run.final - flow.final), rel=1e-9)


def test_start_axes_override_the_start_coordinates():
    s = sweep("rosenbrock", "gd", ["y=0,1,2"], start=[0.5, 9.0], steps=0)
    np.testing.assert_array_equal(s.start, [[0.5, 0.0], [0.5, 1.0], [0.5, 2.0]])
    assert np.isnan(s.reference_sharpness)  # the start moves: no single reference minimum


def test_axis_parsing_and_specs_round_trip():
    a = parse_axis("lr=1e-4:1e-1:4:log")
    np.testing.assert_allclose(a.values, [1e-4, 1e-3, 1e-2, 1e-1])
    assert a.scale == "log" and parse_axis(a.spec).values.tolist() == a.values.tolist()
    b = parse_axis("momentum=0:0.9:4")
    assert b.scale == "linear" and b.values.tolist() == pytest.approx([0, 0.3, 0.6, 0.9])
    c = parse_axis("eps = 1e-8, 1e-3")
    assert c.scale == "list" and c.values.tolist() == [1e-8, 1e-3] and parse_axis(c.spec).values.tolist() == [1e-8, 1e-3]
    np.testing.assert_allclose(edges(np.array([1.0, 10.0, 100.0]), "log"), [10**-0.5, 10**0.5, 10**1.5, 10**2.5])


@pytest.mark.parametrize("axes, message", [
    (["lr"], "NAME=START:STOP:NUM"),
    (["lr=1:2"], "START:STOP:NUM"),
    (["lr=1:2:x"], "whole number"),
    (["lr=a,b"], "'a' is not a number"),
    (["lr=0:1:5:log"], "log range needs start and stop > 0"),
    (["lr=1e-3:1e-1:0"], "[1, 100000]"),
    (["momentm=0,0.5"], "Did you mean 'momentum'?"),
    (["lr=0.1", "lr=0.2"], "given twice"),
    (["lr=-0.1,0.1"], "gd: lr must be > 0"),
])
def test_bad_axes_are_refused_with_a_clear_message(axes, message):
    with pytest.raises(ValueError) as err:
        sweep("himmelblau", "gd", axes, steps=1)
    assert message in str(err.value)


def test_an_axis_that_one_optimizer_lacks_is_refused_naming_it():
    with pytest.raises(ValueError, match="adam has no hyperparameter 'momentum'"):
        sweep("himmelblau", ["momentum", "adam"], ["momentum=0,0.5"], steps=1)
    with pytest.raises(ValueError, match="scalar hyperparameters"):
        sweep("himmelblau", sim.optimizer("gd", lr=[0.1, 0.2]), ["x=0,1"], steps=1)


def test_heat_map_draws_the_metric_marks_diverged_cells_and_the_threshold():
    lr, mu = Axis.log("lr", 0.02, 1.0, 30), Axis.linear("momentum", 0.0, 0.9, 10)
    s = sweep(QUAD, "momentum", [lr, mu], steps=500)
    fig = Figure()
    ax = plot_sweep(s, "final_loss", 0, fig.add_subplot())
    data, overlay = ax.collections[0], ax.collections[1]
    drawn = np.ma.getdata(data.get_array()).reshape(10, 30).T
    shown = ~np.ma.getmaskarray(data.get_array()).reshape(10, 30).T
    diverged = s.metric("diverged").astype(bool)
    np.testing.assert_array_equal(shown, ~diverged)
    np.testing.assert_allclose(drawn[shown], s.metric("final_loss")[shown])  # f* = 0 here
    assert (~np.ma.getmaskarray(overlay.get_array())).sum() == diverged.sum()
    assert any("2(1+μ)/lr = λmax = 10" in t.get_text() for t in ax.get_legend().get_texts())


@pytest.mark.parametrize("axis", ["lr=0.01:1:40:log", "lr=0.01:1:5", "lr=0.01:1:100"])  # the last has a cell at 0.2
def test_line_plot_puts_the_theory_line_at_two_over_lambda(axis):
    # the crossing of 2/lr = λmax is found along lr itself: between two cells it is not linear in lr
    # (interpolating the margin put it at 0.25 on the 5-cell axis, and a cell exactly on it drew none)
    s = sweep(QUAD, "gd", [axis], steps=300)
    ax = plot_sweep(s, "final_loss", 0, Figure().add_subplot())
    theory = [line for line in ax.lines if line.get_label().startswith("theory")]
    assert len(theory) == 1 and theory[0].get_xdata()[0] == pytest.approx(0.2, rel=1e-6)


def test_basins_plot_colours_each_cell_by_its_minimum():
    s = sweep("himmelblau", "gd(lr=0.01)", ["x=-5:5:12", "y=-5:5:10"], steps=300)
    ax = plot_basins(s, 0, Figure().add_subplot())
    np.testing.assert_array_equal(np.asarray(ax.collections[0].get_array()).reshape(10, 12).T,
                                  s.metric("minimum") + 2)
    fig = sweep_figure(s)  # a sweep of x and y draws basins by default
    assert "basins" in fig._suptitle.get_text()
    assert len(ax.collections) == 2 and ax.collections[1].get_offsets().shape == (4, 2)  # the minima's stars


def test_minimum_reached_over_hyperparameters_draws_no_minima_in_hyperparameter_space():
    s = sweep("himmelblau", "momentum", ["lr=1e-4:1e-1:6:log", "momentum=0.1:0.9:5"], steps=100)
    ax = plot_basins(s, 0, Figure().add_subplot())
    assert len(ax.collections) == 1  # the map only: himmelblau's minima at (3, 2) ... are not (lr, momentum)
    x_edges, y_edges = edges(s.axes[0].values, "log"), edges(s.axes[1].values, "linear")
    assert ax.get_xlim() == pytest.approx((x_edges[0], x_edges[-1])) and ax.get_ylim() == pytest.approx(
        (y_edges[0], y_edges[-1]))


def test_table_has_a_row_per_member_and_cell(tmp_path):
    s = sweep("himmelblau", ["gd", "momentum"], ["lr=0.001,0.01,0.02"], steps=20)
    lines = s.csv().splitlines()
    assert lines[0].split(",")[:3] == ["member", "kind", "lr"] and len(lines) == 1 + 2 * 3
    row = dict(zip(lines[0].split(","), lines[2].split(",")))
    assert float(row["final_loss"]) == s.metric("final_loss", 0)[1] and row["member"] == "gd"
    assert repr(s).startswith("Sweep(gd, momentum over lr=") and len(repr(s)) < 300  # not the arrays


def test_sweep_cli_writes_figure_and_table(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "-l", QUAD, "-o", "gd", "-o", "momentum", "--vary", "lr=0.01:1:8:log", "--steps", "100",
                 "--data", "s.npz"])
    assert code == 0
    written = capsys.readouterr().out.split()
    assert written[:4] == ["simulate_sweep.png", "s.npz", "s.json", "s.csv"]
    assert all((tmp_path / p).exists() for p in written)
    arrays = np.load(tmp_path / "s.npz")
    assert arrays["final_loss"].shape == (2, 8) and list(arrays["members"]) == ["gd", "momentum"]
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 17


@pytest.mark.parametrize("args, message", [
    (["--vary", "lr=1:2"], "START:STOP:NUM"),
    (["--vary", "lr=0.1", "--vary", "momentum=0.5", "--vary", "x=1", "--x", "mom"], "--x: unknown axis 'mom'"),
    (["--vary", "x=0,1", "--start", "1,1", "--start", "2,2"], "one start point"),
    (["-o", "adam", "--vary", "momentum=0.1"], "adam has no hyperparameter"),
    (["-o", "momentum(momentum=0.5)", "--vary", "momentum=0.1,0.9"], "sets momentum and the axis momentum sweeps it"),
    (["--record-every", "2"], "give --data"),
    (["--engine", "compiled", "--noise", "0.1"], "exact gradients only"),
])
def test_sweep_cli_errors_are_one_line_and_write_nothing(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--steps", "5", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_divergence_metrics_colour_the_diverged_cells_by_their_step():
    s = sweep(QUAD, "momentum", [Axis.log("lr", 0.05, 1.0, 12), Axis.linear("momentum", 0.0, 0.9, 4)], steps=300)
    ax = plot_sweep(s, "diverged_at", 0, Figure().add_subplot())
    drawn = ax.collections[0].get_array()
    shown = ~np.ma.getmaskarray(drawn).reshape(4, 12).T
    np.testing.assert_array_equal(shown, s.metric("diverged").astype(bool))
    np.testing.assert_array_equal(np.ma.getdata(drawn).reshape(4, 12).T[shown], s.metric("diverged_at")[shown])


def test_uneven_list_axes_are_drawn_as_equal_cells_and_signed_losses_linearly():
    from simulate.viz.heatmaps import axis_positions

    centers, cell_edges, scale, ticks = axis_positions(Axis("beta2", [0.9, 0.99, 0.999, 0.9999]))
    assert scale == "index" and ticks == ["0.9", "0.99", "0.999", "0.9999"] and list(cell_edges) == [-0.5, 0.5, 1.5, 2.5, 3.5]
    assert axis_positions(Axis("lr", [1e-3, 1e-2, 1e-1, 1.0]))[2] == "log"  # geometric: a log axis
    s = sweep("saddle", "gd", ["lr=0.001:0.01:5:log"], steps=300)  # f = x² − y² goes negative
    ax = plot_sweep(s, "final_loss", 0, Figure().add_subplot())
    assert ax.get_yscale() == "linear" and np.nanmin(ax.lines[0].get_ydata()) < 0


def test_a_preset_that_fixes_the_axis_is_refused_and_errors_name_the_typed_optimizer():
    with pytest.raises(ValueError, match="gd fixes momentum=0.0; sweep it with sgd"):
        sweep("himmelblau", "gd", ["momentum=0,0.5"], steps=1)
    with pytest.raises(ValueError, match="^momentum: momentum must be in"):
        sweep("himmelblau", "momentum", ["momentum=0.5,1.5"], steps=1)
    with pytest.raises(ValueError, match="needs a continuous model"):
        sweep("himmelblau", "gd", ["lr=0.01"], steps=1).metric("flow_distance")
    with pytest.raises(ValueError, match="at most the number of steps"):
        sweep("himmelblau", "gd", ["lr=0.01"], steps=10, record_every=20)


def test_flows_of_a_sweep_advance_the_progress_bar_cell_by_cell(monkeypatch):
    import simulate.analysis.sweep as module

    seen, totals = [], []

    class Bar:
        def advance(self, n=1):
            seen.append(n)

    import contextlib
    monkeypatch.setattr(module, "progress_bar", lambda total, *a, **k: totals.append(total) or contextlib.nullcontext(Bar()))
    result = sweep("himmelblau", "gd", ["x=-1,0,1", "y=0,1"], steps=5, flow="exact")
    # the steps, then the six cells' flows, each by its estimated seconds (simulate.solvers.cost)
    assert len([n for n in seen if n]) == 5 + 6
    assert sum(seen) == pytest.approx(totals[0]) and totals[0] == result.stats["estimated_seconds"]


def test_cells_that_diverged_are_said_per_member():
    # GD on Himmelblau diverges for the large lrs: the line counts those cells
    from simulate.analysis.remarks import Diverged

    with pytest.warns(Diverged, match=r"^gd: diverged in (\d+) of 5 cells") as seen:
        s = sweep("himmelblau", ["gd"], ["lr=1e-3:1:5:log"], steps=50)
    count = int(re.match(r"gd: diverged in (\d+)", str(seen[0].message)).group(1))
    assert count == int(s.metrics["diverged"][0].sum()) > 0


def test_a_heat_maps_threshold_line_lies_where_the_threshold_is_not_between_cells():
    """Heavy ball is stable for lr < 2(1+β)/λmax: the dashed line over lr × β passes there at every β,
    though the grid has 6 lrs (a contour over the cells put it 20% off, at 0.0297 for 0.0243)."""
    from matplotlib.contour import QuadContourSet

    from simulate.viz.figures import sweep_figure

    s = sim.sweep("himmelblau", "momentum", ["lr=1e-3:1e-1:6:log", "momentum=0:0.9:4"], steps=50)
    lam = s.reference_sharpness
    for transposed in (False, True):
        x, y = ("momentum", "lr") if transposed else ("lr", "momentum")
        ax = sweep_figure(s, x=x, y=y).axes[0]
        lines = [c for c in ax.collections if isinstance(c, QuadContourSet)]
        assert len(lines) == 1
        points = np.concatenate([p.vertices for p in lines[0].get_paths()])
        lr, beta = (points[:, 1], points[:, 0]) if transposed else (points[:, 0], points[:, 1])
        np.testing.assert_allclose(lr, 2 * (1 + beta) / lam, rtol=2e-3)
        assert beta.min() == 0 and beta.max() == 0.9
        # a few values on a linear axis are labelled by themselves
        ticks = ax.get_xticks() if transposed else ax.get_yticks()
        np.testing.assert_array_equal(ticks, [0, 0.3, 0.6, 0.9])


@pytest.mark.parametrize("optimizers,axes,said", [
    (["adam"], ["betas[0]=0.5,0.9", "beta1=0.3,0.4"], "the axes betas[0] and beta1 both set adam's betas[0]"),
    (["gd"], ["x1=0,1", "x=-2,-3"], "the axes x1 and x both set the start's coordinate 1"),
    (["adam", "adam"], ["lr=0.1,0.2"], "adam is given twice"),
])
def test_two_names_for_one_thing_are_refused_not_silently_one(optimizers, axes, said):
    """The later axis overrode the earlier (a dimension that changed nothing); two members of one
    label could not be told apart in the data."""
    with pytest.raises(ValueError) as caught:
        sim.sweep("himmelblau", optimizers, axes, steps=2)
    assert str(caught.value).startswith(said)


def test_the_cell_limit_counts_the_flows_and_says_what_fits(monkeypatch):
    from simulate.analysis import sweep as module

    monkeypatch.setattr(module, "MAX_CELLS", 100)
    with pytest.raises(ValueError, match=r"this sweep has 120 cells \(30 per member × 2 optimizer\(s\) × 2 \(each "
                                         r"with its flow\)\); the limit is 100: use a coarser grid or fewer optimizers, "
                                         r"or no flow"):
        sim.sweep("himmelblau", ["gd", "momentum"], ["lr=0.01:0.1:30"], steps=2, flow="exact")


def test_a_landscape_axis_draws_each_cells_loss_above_its_own_minimum():
    """A tilt moves the minimum: the heat map's f − f* subtracts each cell's f*, not the default
    landscape's (which went below 0 and fell back to a linear scale)."""
    from simulate.landscapes import with_parameters
    from simulate.viz.heatmaps import _values

    s = sim.sweep("double-well", "gd", ["lr=0.01,0.1", "tilt=0.5,1"], steps=200)
    f_star = [with_parameters(s.landscape, tilt=t).lowest_minimum_value() for t in (0.5, 1.0)]
    np.testing.assert_array_equal(s.lowest_minimum_values(), [f_star])
    drawn, log = _values(s, "final_loss", 0)
    gap = s.metrics["final_loss"][0] - np.array([f_star])
    assert log and np.all(gap >= 0) and np.any(gap > 0)
    # a gap of exactly 0 (at the minimum to rounding) is drawn at the smallest positive one
    np.testing.assert_array_equal(drawn, np.where(gap > 0, gap, gap[gap > 0].min()))
    np.testing.assert_array_equal(s.sel(tilt=1.0).lowest_minimum_values(), f_star[1])


def test_a_sweep_over_a_landscapes_parameter_says_one_divergence_line_per_member():
    """It said one per value of the parameter, none naming it; and landscape_parameters takes a name."""
    import warnings

    from simulate.analysis.remarks import Diverged
    from simulate.landscapes import landscape_parameters

    assert landscape_parameters("double-well") == landscape_parameters(sim.landscape("double-well"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = sim.sweep("double-well", ["gd", "momentum"], ["lr=0.5:3:5", "tilt=0.5,1,1.5"], steps=30)
    lines = [str(w.message) for w in caught if issubclass(w.category, Diverged)]
    counts = [int(s.metrics["diverged"][i].sum()) for i in range(2)]
    assert all(counts) and lines == [f"{m}: diverged in {n} of 15 cells (diverged = 1 in the data)"
                                     for m, n in zip(s.members, counts)]
    assert all(w.filename == __file__ for w in caught if issubclass(w.category, Diverged))
