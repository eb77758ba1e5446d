"""Plots are checked through their artists' data, never through pixels."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import simulate as sim
from simulate.viz.figures import comparison_figure
from simulate.viz.plotting import plot_landscape, plot_loss, plot_minima, plot_path, plot_start


@pytest.fixture
def runs():
    land = sim.landscape("himmelblau")
    starts = np.array([[0.0, 0.0], [-1.0, -1.0]])
    opt = sim.optimizer("gd", lr=0.01)
    return land, sim.iterate(land, opt, starts, 40), sim.integrate(land, opt, starts, steps=40)


def test_axes_level_functions_draw_on_the_given_axes_and_return_it(runs):
    land, run, flow = runs
    fig, ax = plt.subplots()
    n_figs = len(plt.get_fignums())
    assert plot_landscape(land, ax) is ax
    assert plot_path(run, ax, color="C1", label="gd") is ax
    assert plot_path(flow, ax, color="C1") is ax
    assert plot_minima(land, ax) is ax and plot_start(land, run.x[0], ax) is ax
    assert len(plt.get_fignums()) == n_figs  # no new figure
    paths = ax.lines[-4:]
    np.testing.assert_array_equal(paths[0].get_xydata(), run.x[:, 0])  # one line per start
    np.testing.assert_array_equal(paths[1].get_xydata(), run.x[:, 1])
    np.testing.assert_array_equal(paths[2].get_xydata(), flow.x[:, 0])
    assert paths[0].get_marker() == "o" and paths[2].get_marker() in ("None", None, "")
    assert paths[0].get_label() == "gd" and paths[1].get_label().startswith("_")  # labelled once
    np.testing.assert_allclose(ax.collections[-2].get_offsets(), land.minima)
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), run.x[0])


def test_ax_none_uses_the_current_axes(runs):
    land, run, _ = runs
    fig, ax = plt.subplots()
    assert plot_path(run) is ax


def test_contours_are_log_spaced_over_the_box(runs):
    land, _, _ = runs
    ax = plot_landscape(land, plt.figure().gca(), levels=12)
    cs = ax.collections[0]
    levels = np.asarray(cs.levels)
    assert len(levels) == 12 and np.allclose(np.diff(np.log(levels)), np.diff(np.log(levels))[0])
    assert ax.get_xlim() == tuple(land.bounds[0]) and ax.get_ylim() == tuple(land.bounds[1])


def test_loss_on_log_axis_against_time_or_steps(runs):
    land, run, flow = runs
    ax = plot_loss(run, plt.figure().gca(), offset=0.0)
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), run.t)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), run.f[:, 0])
    ax = plot_loss(run, plt.figure().gca(), time="steps")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(41))
    assert ax.get_yscale() == "linear"


def test_one_dimensional_landscape_draws_the_graph():
    land = sim.landscape("double-well", dim=1, tilt=0.3)
    run = sim.iterate(land, sim.optimizer("gd", lr=0.05), [1.5], 20)
    ax = plot_landscape(land, plt.figure().gca())
    plot_path(run, ax)
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), land.value(run.x))


def test_one_dimensional_graphs_zoom_to_where_the_runs_went_unless_that_is_most_of_f():
    from simulate.viz.animation import AnimationScene
    from simulate.viz.plotting import graph_window

    quartic = sim.landscape("x**4/4 - x**2/2")  # box [-5, 5]: f runs to 144, the path stays under 2
    np.testing.assert_allclose(graph_window(quartic, [0.7, 2.0]), [[0.7 - 0.65, 2.0 + 0.65]])
    wavy = sim.landscape("0.015*x**2 + 0.45*cos(1.1*x)", bounds=[[-15, 15]])
    np.testing.assert_array_equal(graph_window(wavy, [2.7, 11.0]), wavy.bounds)  # most of f's range: all of it
    np.testing.assert_array_equal(graph_window(quartic, [np.nan, 1e9]), quartic.bounds)  # nothing inside
    exp = sim.run_experiment(quartic, ["gd(lr=0.1)"], [2.0], 50)
    fig = comparison_figure(exp)
    visited = np.concatenate([[2.0], exp.entries[0].iterates.x.ravel(), exp.entries[0].flow.x.ravel()])
    window = graph_window(quartic, visited)[0]
    for figure in (fig, AnimationScene.for_result(exp).figure):
        ax = figure.axes[0]
        assert ax.get_xlim() == tuple(window) and window[1] - window[0] < 3
        graph = ax.lines[0]
        assert graph.get_xdata()[0] == window[0] and graph.get_xdata()[-1] == window[1]
        assert ax.get_ylim()[1] < 10  # the walls at ±5 (f = 144) are not what sets the scale


def test_comparison_figure_has_paths_flows_and_losses():
    result = sim.plot("himmelblau", ["gd(lr=0.01)", "adam(lr=0.1)"], steps=30)
    fig = result.figure
    ax_path, ax_loss = fig.axes[:2]
    exp = result.experiment
    # per optimizer: one flow and one iterate line in each panel
    assert len(ax_path.lines) == 4 and len(ax_loss.lines) == 4
    np.testing.assert_array_equal(ax_path.lines[1].get_xydata(), exp.entries[0].iterates.x)
    np.testing.assert_array_equal(ax_path.lines[0].get_xydata(), exp.entries[0].flow.x)
    assert ax_path.lines[0].get_color() == ax_path.lines[1].get_color() != ax_path.lines[3].get_color()
    assert exp.entries[0].flow.x.shape[0] > 30  # finely sampled so the curve is smooth
    labels = [t.get_text() for t in ax_path.get_legend().get_texts()]
    assert "gd(lr=0.01)" in labels and "adam(lr=0.1)" in labels
    assert ax_loss.get_xlabel() == "steps k = t / h"  # different h: compare per step


def test_same_time_per_step_plots_against_t():
    exp = sim.plot("booth", ["gd(lr=0.05)", "momentum(lr=0.05)"], steps=10).experiment
    fig = comparison_figure(exp)
    assert fig.axes[1].get_xlabel() == "time t"


def test_plot_result_saves_figure_and_data(tmp_path):
    result = sim.plot("booth", ["gd(lr=0.05)"], steps=5)
    written = result.save(tmp_path / "b.svg", data=tmp_path / "b.npz")
    assert [p.name for p in written] == ["b.svg", "b.npz"]
    assert np.load(tmp_path / "b.npz")["iterates_x_0"].shape == (6, 2)


def test_many_minima_draw_only_the_global_ones():
    land = sim.landscape("rastrigin")
    assert len(land.minima) > 16
    ax = plot_minima(land, plt.figure().gca())
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[0.0, 0.0]], atol=1e-12)
    ax = plot_minima(sim.landscape("himmelblau"), plt.figure().gca())
    assert len(ax.collections[0].get_offsets()) == 4


def test_diverged_members_stop_before_the_trigger_and_do_not_set_the_scale():
    result = sim.plot("quadratic(eigenvalues=(1, 10))", ["gd(lr=(0.05, 0.25))", "adam(lr=0.05)"], steps=200)
    e = result.experiment.entries[0]
    k = int(e.iterates.diverged_at[1])
    assert k > 0
    ax_path, ax_loss = result.figure.axes[:2]
    lines = [line for line in ax_path.lines if line.get_marker() == "o"]
    np.testing.assert_array_equal(lines[1].get_xydata(), e.iterates.x[:k, 1])  # stops before the trigger
    crosses = [line for line in ax_path.lines if line.get_marker() == "X"]
    last = e.iterates.x[k - 1, 1]  # where the member was last seen: outside the box, its cross sits on the edge
    (x0, x1), (y0, y1) = ax_path.get_xlim(), ax_path.get_ylim()
    inside = x0 <= last[0] <= x1 and y0 <= last[1] <= y1
    expected = last if inside else np.clip(last, (x0, y0), (x1, y1))
    np.testing.assert_array_equal(crosses[0].get_xydata()[0], expected)
    kept = np.concatenate([e.iterates.f[:, 0], result.experiment.entries[1].iterates.f])
    assert ax_loss.get_ylim()[1] <= 2 * kept.max() * 1.0001  # the diverging member runs off the top


def test_projection_is_announced_for_more_than_two_dimensions():
    fig = sim.plot("quadratic(condition=10, dim=3)", ["gd(lr=0.1)"], steps=5).figure
    assert "projected on x₁, x₂ of 3" in fig.axes[0].get_title()


def test_a_flow_that_stops_at_once_is_said_in_the_legend_not_a_crash():
    # Adam's exact flow from a point where one gradient component is 0 is 0/0 at t = 0
    result = sim.plot(landscape="rosenbrock", optimizers=["adam(lr=0.02)"], start=[0.0, 0.0], steps=20)
    texts = [t.get_text() for ax in result.figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("its flow stopped early" in t for t in texts)
    assert result.experiment.entries[0].flow.diverged.all() and not result.experiment.entries[0].iterates.diverged.any()


def test_titles_shorten_long_landscape_specs():
    from simulate.landscapes.base import short_label

    assert short_label(sim.landscape("himmelblau")) == "himmelblau"
    spec = "formula('0.015*x**2 + 0.45*cos(1.1*x)', bounds=((-15, 15),), start=(11,))"
    assert short_label(sim.landscape(spec)) == "0.015*x**2 + 0.45*cos(1.1*x)"
    assert short_label(sim.landscape("quadratic(dim=10)")) == "quadratic(…)"
    fig = sim.plot(spec, ["gd(lr=0.9)"], steps=5).figure
    assert fig.axes[0].get_title().startswith("0.015*x**2 + 0.45*cos(1.1*x): iterates")


def test_box_sets_the_region_drawn_in_every_view(tmp_path):
    from simulate.viz.animation import AnimationScene
    from simulate.cli.app import main

    box = [[-0.5, 1.5], [2.5, 4.5]]
    result = sim.plot("scalar-net", ["gd(lr=0.15)"], steps=20, box="-0.5:1.5,2.5:4.5")
    np.testing.assert_array_equal(result.box, box)
    ax = result.figure.axes[0]
    assert ax.get_xlim() == (-0.5, 1.5) and ax.get_ylim() == (2.5, 4.5)
    scene = AnimationScene.for_result(result.experiment, box=result.box)
    assert scene.figure.axes[0].get_xlim() == (-0.5, 1.5) and scene.figure.axes[0].get_ylim() == (2.5, 4.5)
    surface = sim.plot("scalar-net", ["gd(lr=0.15)"], steps=5, box=box, three_d=True).figure.axes[0]
    assert surface.get_xlim() == (-0.5, 1.5) and surface.get_ylim() == (2.5, 4.5)
    stars = surface.collections[-2]._offsets3d  # the minima: none of scalar-net's listed ones is in the box
    assert np.all(np.isnan(np.asarray(stars[0], float)))
    noisy = sim.plot("double-well", ["gd(lr=0.05)"], steps=20, noise=0.5, paths=5, box=[[-2, 0], [-1, 1]])
    assert noisy.figure.axes[0].get_xlim() == (-2, 0)
    one = sim.plot("x**2", ["gd(lr=0.1)"], [1.0], 20, noise=0.1, paths=5, box="-3:3")
    assert one.figure.axes[0].get_ylim() == (-3, 3)  # 1-D ensembles: x against t
    for bad, message in (("1:2", "give 2 pairs"), ("2:1,0:1", "low < high"), ("a:b,1:2", "low:high"),
                         ([[0, 1, 2]], "low:high")):
        with pytest.raises(ValueError, match=message):
            sim.plot("himmelblau", ["gd"], steps=2, box=bad)
    assert main(["plot", "--box=1:2", "--out", str(tmp_path / "x.png")]) == 2  # checked before anything is written
    assert main(["plot", "--box=2:1,0:1", "--out", str(tmp_path / "x.png")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_the_surface_and_lifted_paths_make_their_own_3d_axes_and_return_them():
    from simulate.viz.plotting import Height, plot_surface

    land = sim.landscape("himmelblau")
    plt.figure()
    ax = plot_surface(land)
    assert ax.name == "3d" and ax is plt.gca()
    height = Height(land, [[-1, 4], [-1, 4]])
    run = sim.iterate(land, "gd(lr=0.01)", [0.0, 0.0], 20)
    assert plot_path(run, height=height) is ax  # the current 3-D Axes
    drawn = np.array(ax.lines[-1].get_data_3d())
    np.testing.assert_allclose(drawn[2], height(run.f))
    plt.figure().add_subplot().plot([0, 1])
    other = plot_start(land, [0.0, 0.0], height=height)  # the current Axes is 2-D and used: a new figure
    assert other.name == "3d" and other is not ax
    with pytest.raises(ValueError, match="3-D Axes"):
        plot_path(run, plt.figure().gca(), height=height)


def test_a_paths_style_is_overridden_by_either_spelling():
    """linestyle= or ls=, lw= or linewidth=: the caller's value replaces the default (they clashed)."""
    import matplotlib.pyplot as plt
    import simulate as sim
    from simulate.viz.plotting import plot_path

    traj = sim.iterate("quadratic", "gd(lr=0.1)", [1.0, 1.0], steps=5)
    for style in ({"linestyle": "--", "linewidth": 2.5}, {"ls": "--", "lw": 2.5}):
        fig, ax = plt.subplots()
        line = plot_path(traj, ax, **style).lines[-1]
        assert (line.get_linestyle(), line.get_linewidth()) == ("--", 2.5)
        assert line.get_marker() == "o"  # the rest of the default stays
        plt.close(fig)
