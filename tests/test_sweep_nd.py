"""Sweeps over more than two axes: the same numbers as separate sweeps and separate runs, cell by
cell; slices (sel, isel) that equal indexing the metrics; figures that draw the two named axes
with a panel per combination of the others, on one colour scale; the command line end to end.

Equality is bit for bit throughout: a cell's arithmetic is elementwise float64 numpy on the same
numbers in the same order whatever the grid's shape (broadcasting changes which cells run
together, not what each computes; the only reductions are over a point's own coordinates), and each
cell's flow is its own solve. Noise is the exception: the draws of one step cover the whole grid,
so a noisy cell equals the same batch run by iterate, not a sweep of another shape.
"""

import warnings

import numpy as np
import pytest
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

import simulate as sim
from simulate.analysis.sweep import Axis, NotOnAxis, sweep
from simulate.landscapes import landscape_parameters
from simulate.cli.app import main
from simulate.solvers.discrete import spawned_seed
from simulate.viz.figures import FacetWarning, sweep_figure
from simulate.viz.heatmaps import metric_norm, plot_sweep

LRS, MUS, XS = [0.001, 0.005, 0.02], [0.0, 0.5, 0.9], [-1.0, 2.0]
STEPS = 40


@pytest.fixture(scope="module")
def cube():
    """sgd over lr × momentum × x on Himmelblau, iterates and the exact flow: 18 cells, 2 members."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cell or two diverge: said, and tested elsewhere
        return sweep("himmelblau", "sgd", [Axis("lr", LRS), Axis("momentum", MUS), Axis("x", XS)], steps=STEPS,
                     record_every=STEPS // 4, flow="exact", method="LSODA")


def _same_metrics(a, b):
    assert a.grid_shape == b.grid_shape and len(a.members) == len(b.members)
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)


# -- the numbers ------------------------------------------------------------------------------------------
def test_a_three_axis_sweep_equals_separate_two_axis_sweeps_cell_by_cell(cube):
    assert cube.grid_shape == (3, 3, 2) and cube.metrics["final_loss"].shape == (2, 3, 3, 2)
    assert set(cube.metrics) >= {"steps_to_tol", "rate", "verdict", "flow_distance"}  # windows and flows too
    for j, mu in enumerate(MUS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plane = sweep("himmelblau", f"sgd(momentum={mu})", [Axis("lr", LRS), Axis("x", XS)], steps=STEPS,
                          record_every=STEPS // 4, flow="exact", method="LSODA")
        for name, values in cube.metrics.items():
            np.testing.assert_array_equal(values[:, :, j], plane.metrics[name], err_msg=name)
        np.testing.assert_array_equal(cube.paths[:, :, :, j], plane.paths)
        np.testing.assert_array_equal(cube.start[:, j], plane.start)


def test_every_cell_equals_its_own_run(cube):
    for i, lr in enumerate(LRS):
        for j, mu in enumerate(MUS):
            for k, x in enumerate(XS):
                start = cube.start[i, j, k]
                assert start[0] == x and np.array_equal(start, cube.start[0, 0, k])  # the axis's x, the rest fixed
                run = sim.iterate("himmelblau", sim.optimizer("sgd", lr=lr, momentum=mu), start=start, steps=STEPS)
                assert cube.metrics["diverged_at"][0, i, j, k] == run.diverged_at
                np.testing.assert_array_equal(cube.paths[0, :, i, j, k], run.x[::STEPS // 4])
                if not run.diverged:
                    assert cube.metrics["final_loss"][0, i, j, k] == run.f[-1]  # bit for bit
                    hit = np.nonzero(run.f <= 1e-6)[0]  # Himmelblau's f* = 0
                    assert cube.metrics["steps_to_tol"][0, i, j, k] == (hit[0] if hit.size else -1)


def test_pairs_schedules_and_landscape_parameters_as_third_axes():
    # Adam's betas, one element per axis: each cell is adam with that pair
    s = sweep("himmelblau", "adam", ["lr=0.01,0.1", "beta1=0.5,0.9", "beta2=0.9,0.999"], steps=30)
    for i, lr in enumerate([0.01, 0.1]):
        for j, b1 in enumerate([0.5, 0.9]):
            for k, b2 in enumerate([0.9, 0.999]):
                run = sim.iterate("himmelblau", sim.optimizer("adam", lr=lr, betas=(b1, b2)), steps=30)
                assert s.metrics["final_loss"][0, i, j, k] == run.f[-1]
    # a schedule's parameter: each value is the sweep with that schedule
    s = sweep("himmelblau", "gd", ["lr=0.001,0.01", "warmup=0,5", "y=0,1"], steps=20, schedule="cosine")
    for w in (0, 5):
        _same_metrics(s.sel(warmup=w), sweep("himmelblau", "gd", ["lr=0.001,0.01", "y=0,1"], steps=20,
                                             schedule=f"cosine(warmup={w})"))
    # a landscape's parameter: one vectorized run per value, and its slice is the sweep on that landscape
    s = sweep("dirac-gan", "gd", ["lr=0.05,0.2", "gamma=0,0.5,1", "x=0.5,1"], steps=20)
    for g in (0.0, 0.5, 1.0):
        cut = s.sel(gamma=g)
        alone = sweep(f"dirac-gan(gamma={g})", "gd", ["lr=0.05,0.2", "x=0.5,1"], steps=20)
        _same_metrics(cut, alone)
        assert cut.landscape.label == alone.landscape.label and "landscape_axes" not in cut.stats
        assert landscape_parameters(cut.landscape) == landscape_parameters(alone.landscape)


def test_noisy_cells_equal_the_same_batch_run_by_iterate():
    # every cell is one path, its draws keyed by the cell's index in the grid (not by the batch)
    from simulate.solvers.discrete import advance
    from simulate.solvers.noise import NoisyGradients, noise

    s = sweep("himmelblau", "sgd", ["lr=0.001,0.01", "momentum=0,0.5", "x=-1,0.5,2"], steps=15, noise=0.3, seed=4,
              record_every=15)
    lr, mu, x = np.meshgrid([0.001, 0.01], [0.0, 0.5], [-1.0, 0.5, 2.0], indexing="ij")
    start = np.stack([x, np.broadcast_to(s.start[..., 1], x.shape)], axis=-1)
    land = sim.landscape("himmelblau")
    kept = {}
    advance(sim.optimizer("sgd", lr=lr, momentum=mu), NoisyGradients(land, noise(0.3), spawned_seed(4, 0),
                                                                    cells=np.arange(12).reshape(2, 2, 3)),
            start, 15, 1e6, lambda k, x, stopped: kept.update(last=x.copy()))
    np.testing.assert_array_equal(s.paths[0, -1], kept["last"])
    path = sweep("himmelblau", "gd", ["lr=0.001,0.01", "x=-1,2", "path=1:3:3"], steps=5, noise=0.3)
    assert path.metrics["final_loss"].shape == (1, 2, 2, 3) and path.sel(path=2).grid_shape == (2, 2)


# -- slices ------------------------------------------------------------------------------------------------
def test_sel_and_isel_equal_indexing_the_metrics(cube):
    cut = cube.sel(momentum=0.5)
    assert [a.name for a in cut.axes] == ["lr", "x"] and cut.members == cube.members
    for name, values in cube.metrics.items():
        np.testing.assert_array_equal(cut.metrics[name], values[:, :, 1])
    np.testing.assert_array_equal(cut.start, cube.start[:, 1])
    np.testing.assert_array_equal(cut.paths, cube.paths[:, :, :, 1])
    assert np.all(np.asarray(cut.optimizers[0].momentum) == 0.5)  # the members' hyperparameters sliced too
    np.testing.assert_array_equal(np.broadcast_to(cut.optimizers[0].lr, cut.grid_shape)[:, 0], LRS)
    _same_metrics(cut, cube.isel(momentum=1))
    _same_metrics(cut, cube.isel({"momentum": -2}))
    # several at once, down to one cell; a list keeps the axis
    cell = cube.sel(lr=0.02, momentum=0.9, x=-1.0)
    assert cell.axes == () and cell.metrics["final_loss"].shape == (2,)
    np.testing.assert_array_equal(cell.metrics["final_loss"], cube.metrics["final_loss"][:, 2, 2, 0])
    kept = cube.sel(momentum=[0.9, 0.0])
    assert kept.axes[1].name == "momentum" and list(kept.axes[1].values) == [0.9, 0.0]
    np.testing.assert_array_equal(kept.metrics["rate"], cube.metrics["rate"][:, :, [2, 0]])
    # nearest, as xarray's
    _same_metrics(cube.sel(lr=0.006, method="nearest"), cube.isel(lr=1))
    _same_metrics(cube.sel({"x": 1.9}, method="nearest"), cube.sel(x=2.0))


def test_sel_refuses_values_and_names_not_there_saying_what_is(cube):
    with pytest.raises(NotOnAxis, match=r"0\.3 is not a value of the axis momentum; its values: 0, 0\.5, 0\.9"):
        cube.sel(momentum=0.3)
    with pytest.raises(ValueError, match="Did you mean 'momentum'"):
        cube.sel(momentun=0.5)
    with pytest.raises(IndexError, match="positions 0 to 2"):
        cube.isel(lr=3)
    for bad in (True, 1.5, "1", []):
        with pytest.raises(ValueError, match="positions are whole numbers"):
            cube.isel(lr=bad)
    with pytest.raises(ValueError, match="nearest"):
        cube.sel(lr=0.005, method="linear")


def test_sel_finds_the_value_an_axis_prints_though_linspace_rounded_it():
    s = sim.sweep("quadratic", "gd", ["lr=0.1", "x=-5:5:101"], steps=2)
    held = s.axes[1].values[51]
    assert held != 0.1 and f"{held:.12g}" == "0.1"  # 0.10000000000000053: what the axis holds
    np.testing.assert_array_equal(s.sel(x=0.1).metrics["final_loss"], s.isel(x=51).metrics["final_loss"])
    with pytest.raises(NotOnAxis, match="its values: -5, -4.9, -4.8"):
        s.sel(x=0.105)  # half a cell off is another value: refused, with the values printed as they read


# -- the figure ----------------------------------------------------------------------------------------------
def _meshes(fig):
    """The visible panels and the first mesh (the data) of each."""
    return [(ax, ax.collections[0]) for ax in fig.axes if ax.get_visible() and ax.collections and ax.get_label() != "<colorbar>"]


def _drawn(mesh, nx, ny):
    """A mesh's array as (x, y) cells, masked where nothing is drawn."""
    a = mesh.get_array()
    return np.ma.getdata(a).reshape(ny, nx).T, np.ma.getmaskarray(a).reshape(ny, nx).T


def test_facets_draw_each_slice_titled_with_its_values_on_one_scale(cube):
    fig = sweep_figure(cube, "steps_to_tol")
    panels = _meshes(fig)
    assert len(panels) == 4  # a row per member (the flow's shows where it diverged), a panel per x
    assert [ax.get_title() for ax, _ in panels[2:]] == [f"gd flow\nx = {x:.4g}" for x in XS]
    norms = {(m.norm.vmin, m.norm.vmax) for _, m in panels}
    assert len(norms) == 1 and isinstance(panels[0][1].norm, Normalize)
    shared = metric_norm(cube, "steps_to_tol")
    assert norms == {(shared.vmin, shared.vmax)}
    for k, (ax, mesh) in enumerate(panels[:2]):
        assert ax.get_title().splitlines() == [cube.members[0], f"x = {XS[k]:.4g}"]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("lr", "momentum")
        data, masked = _drawn(mesh, 3, 3)
        steps = cube.metric("steps_to_tol")[:, :, k]
        gone = cube.metric("diverged")[:, :, k].astype(bool)
        np.testing.assert_array_equal(masked, gone | (steps < 0))
        np.testing.assert_array_equal(data[~masked], steps[~masked])
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1
    assert "lr across, momentum up; a panel per value of x" in fig._suptitle.get_text()


def test_x_and_y_transpose_two_and_three_axes(cube):
    plane = cube.sel(x=2.0)
    ax = plot_sweep(plane, "rate", 0, Figure().add_subplot(), x="momentum", y="lr")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("momentum", "lr")
    data, masked = _drawn(ax.collections[0], 3, 3)
    rate = plane.metric("rate")
    shown = ~(np.isnan(rate) | plane.metric("diverged").astype(bool))
    np.testing.assert_array_equal(~masked, shown.T)
    np.testing.assert_array_equal(data[~masked], rate.T[shown.T])
    two = sweep_figure(plane, "rate", y="lr")  # one name given: the other axis goes across
    assert (two.axes[0].get_xlabel(), two.axes[0].get_ylabel()) == ("momentum", "lr")
    fig = sweep_figure(cube, "rate", x="x", y="lr")  # a panel per momentum, x across
    panels = _meshes(fig)
    assert [ax.get_title().splitlines()[-1] for ax, _ in panels] == [f"momentum = {m:.4g}" for m in MUS]
    for j, (ax, mesh) in enumerate(panels):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "lr")
        data, masked = _drawn(mesh, 2, 3)
        rate = cube.metric("rate")[:, j, :].T  # (x, lr)
        np.testing.assert_array_equal(data[~masked], rate[~masked])


def test_four_axes_make_a_grid_of_panels_and_start_axes_default_to_the_plane():
    s = sweep("himmelblau", "sgd", ["lr=0.005,0.02", "momentum=0,0.5", "x=-3:3:4", "y=-3:3:3"], steps=60)
    fig = sweep_figure(s)  # x and y are the start's: basins, a panel per (lr, momentum)
    panels = _meshes(fig)
    assert len(panels) == 4
    titles = [ax.get_title().splitlines()[-1] for ax, _ in panels]
    assert titles == ["lr = 0.005, momentum = 0", "lr = 0.005, momentum = 0.5", "lr = 0.02, momentum = 0",
                      "lr = 0.02, momentum = 0.5"]
    for (ax, mesh), (i, j) in zip(panels, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
        data, _ = _drawn(mesh, 4, 3)
        np.testing.assert_array_equal(data, s.metric("minimum")[i, j] + 2)  # the minimum reached, per start
    assert fig._suptitle.get_text().startswith("basins of attraction")


def test_a_panel_cap_draws_evenly_spaced_values_and_says_so(cube):
    s = sweep("himmelblau", "sgd", ["lr=0.001,0.01", "momentum=0,0.5", "x=-2:2:5"], steps=10)
    with pytest.warns(FacetWarning, match=r"shows 4 of 5 values of x .*max_panels=5 \(--max-panels 5\)"):
        fig = sweep_figure(s, "final_loss", max_panels=4)
    titles = [ax.get_title().splitlines()[-1] for ax, _ in _meshes(fig)]
    assert titles == ["x = -2", "x = -1", "x = 1", "x = 2"]  # the ends kept, evenly spaced between
    assert "showing 4 of 5 values of x, evenly spaced" in fig._suptitle.get_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FacetWarning)  # within the cap: all drawn, nothing said
        assert len(_meshes(sweep_figure(s, "final_loss", max_panels=5))) == 5
    with pytest.raises(ValueError, match="max_panels"):
        sweep_figure(s, max_panels=0)


def test_a_floor_on_the_shared_log_scale_is_said_by_the_colour_bar(cube):
    # GD at lr 0.15 reaches the minimum to roundoff (1e-29), far under the log scale's floor
    s = sweep("quadratic(eigenvalues=(1, 10))", "gd", ["lr=0.001,0.15", "x=0.5,1", "y=-1,1"], steps=400, track=())
    bars = [ax._colorbar for ax in sweep_figure(s, "distance").axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and s.metric("distance").min() < bars[0].norm.vmin and bars[0].extend == "min"
    bars = [ax._colorbar for ax in sweep_figure(cube, "distance").axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].extend == "neither"  # nothing under this one's floor


def test_the_command_line_default_of_max_panels_is_the_library_s():
    from simulate.cli.options import COMMANDS, help_text
    from simulate.viz.figures import MAX_PANELS

    option = COMMANDS["sweep"].option("max_panels")  # unset (not in run records): the library's
    assert option.default is None and help_text(option).endswith(f"[default: {MAX_PANELS}]")
    s = sweep("himmelblau", "gd", ["lr=0.001,0.01", "x=-1,1", "y=-3:3:17"], steps=2)
    with pytest.warns(FacetWarning, match=f"within {MAX_PANELS} panels"):
        assert len(_meshes(sweep_figure(s, x="lr", y="x", max_panels=None))) == MAX_PANELS


def test_figure_refuses_names_that_are_no_axes(cube):
    with pytest.raises(ValueError, match="Did you mean 'momentum'"):
        sweep_figure(cube, x="momentm")
    with pytest.raises(ValueError, match="both lr"):
        sweep_figure(cube, x="lr", y="lr")
    line = cube.sel(momentum=0.5, x=2.0)
    with pytest.raises(ValueError, match="give no y"):
        sweep_figure(line, y="lr")
    assert sweep_figure(line, x="lr").axes[0].get_xlabel() == "lr"


# -- the command line -------------------------------------------------------------------------------------------
def test_cli_three_axes_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "-l", "himmelblau", "-o", "sgd", "--vary", "lr=0.001,0.01", "--vary", "momentum=0,0.5",
                 "--vary", "x=-2:2:5", "--steps", "10", "--x", "x", "--y", "lr", "--max-panels", "3",
                 "--data", "s.npz"])
    assert code == 0
    out, err = capsys.readouterr()
    assert out.split()[:2] == ["simulate_sweep.png", "s.npz"]
    assert (tmp_path / "simulate_sweep.png").stat().st_size > 10_000
    assert np.load(tmp_path / "s.npz")["final_loss"].shape == (1, 2, 2, 5)
    assert "warning: the figure shows" not in err  # two panels (one per momentum) are within 3
    record = (tmp_path / "simulate_sweep.run.toml").read_text()
    assert 'x = "x"' in record and 'y = "lr"' in record and "max_panels = 3" in record
    assert main(["sweep", "-l", "himmelblau", "-o", "sgd", "--vary", "lr=0.001,0.01", "--vary", "momentum=0,0.5",
                 "--vary", "x=-2:2:5", "--steps", "10", "--max-panels", "4", "--out", "capped.png"]) == 0
    assert "warning: the figure shows 4 of 5 values of x (evenly spaced)" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--x", "momentm"], "--x: unknown axis 'momentm'. Did you mean 'momentum'? Valid: lr, momentum, x."),
    (["--y", "lrr"], "Did you mean 'lr'?"),
    (["--x", "lr", "--y", "lr"], "--x and --y are both lr"),
])
def test_cli_bad_axis_names_are_refused_before_any_work(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "-o", "sgd", "--vary", "lr=0.001,0.01", "--vary", "momentum=0,0.5", "--vary", "x=0,1",
                 "--steps", "10", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_the_plane_is_drawn_x_across_whatever_order_its_axes_were_given_in():
    from simulate.viz.figures import drawn_names

    for axes in (["y=-1,1", "x=-2,0,2"], ["y=-1,1", "lr=0.01,0.02", "x=-2,0,2"]):
        s = sim.sweep("himmelblau", "gd", axes, steps=2)
        assert drawn_names(s, None, None) == ("x", "y")
    assert drawn_names(s, "lr", None) == ("lr", "y")  # named ones as named
