"""The sweep explorer in-process (ipywidgets need no front end): what it draws is the library's slice
of the sweep at the sliders' values, cell for cell; the dropdowns swap and transpose; a sweep of three
or more axes displayed in a notebook says where the explorer is. The same widgets in a real kernel:
tests/test_notebooks.py."""

import numpy as np
import pytest

import simulate as sim
from simulate._names import UnknownNameError
from simulate.viz.display import SLIDER_HINT, mimebundle
from simulate.viz.sweep_widget import SweepExplorer

LAND = "quadratic(eigenvalues=(1, 4))"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def cube():
    """Three axes (lr × momentum × a start coordinate), a few steps: 3 × 2 × 3 cells."""
    s = sim.sweep(LAND, "momentum", ["lr=0.05:0.45:3", "momentum=0,0.5", "x=-1,0.5,2"], steps=10)
    assert not s.metrics["diverged"].any()  # every cell has a colour: the oracle below needs no mask
    assert s.landscape.lowest_minimum_value() == 0.0  # the final loss is drawn as f − f*: here f
    return s


def oracle(sweep, fixed, metric, x, y, member=0):
    """The cells of ``metric`` at ``fixed`` as a heat map draws them: rows up ``y``, columns across ``x``."""
    plane = sweep.sel(fixed)
    v = plane.metric(metric, member).astype(np.float64)
    if metric in ("steps_to_tol", "diverged_at"):
        v[v < 0] = np.nan  # never met, never diverged: no colour
    rows_up = v.T if [a.name for a in plane.axes] == [x, y] else v
    return np.where(np.isfinite(rows_up), rows_up, np.nan)


def assert_draws(e, sweep, metric, x, y):
    assert (e.metric_choice.value, *e.drawn_axes) == (metric, x, y)
    assert len(e.figure_data) == 1
    np.testing.assert_array_equal(e.figure_data[0], oracle(sweep, e.fixed, metric, x, y))


def test_the_defaults_are_the_figures_and_a_slider_per_other_axis(cube):
    e = sim.sweep_explorer(cube)
    assert isinstance(e, SweepExplorer)
    assert list(e.sliders) == ["x"] and e.fixed == {"x": -1.0}
    assert list(e.sliders["x"].options) == [("-1", -1.0), ("0.5", 0.5), ("2", 2.0)]
    assert list(e.metric_choice.options) == list(cube.metrics)
    assert_draws(e, cube, "final_loss", "lr", "momentum")
    assert e.shown.grid_shape == (3, 2)


def test_moving_a_slider_draws_the_slice_there(cube):
    e = sim.sweep_explorer(cube)
    before = bytes(e.image.value)
    e.sliders["x"].value = 2.0
    assert e.fixed == {"x": 2.0}
    assert_draws(e, cube, "final_loss", "lr", "momentum")
    # the slice changed (the start moved), and so did the image sent to the front end
    assert not np.array_equal(e.figure_data[0], oracle(cube, {"x": -1.0}, "final_loss", "lr", "momentum"))
    assert bytes(e.image.value) != before and bytes(e.image.value).startswith(b"\x89PNG")
    assert "sweep.sel(x=2)" in e.status.value and "x=2" in repr(e)


def test_every_slider_position_shares_the_whole_sweeps_colour_scale(cube):
    """A colour means one value at every position: the scale is the whole sweep's, not the slice's."""
    from matplotlib.collections import QuadMesh
    from simulate.viz.heatmaps import metric_norm

    whole = metric_norm(cube, "final_loss")
    e = sim.sweep_explorer(cube)
    limits = []
    for value in (-1.0, 2.0):
        e.sliders["x"].value = value
        mesh = next(c for ax in e.figure.axes for c in ax.collections if isinstance(c, QuadMesh))
        limits.append((mesh.norm.vmin, mesh.norm.vmax))
    assert limits == [(whole.vmin, whole.vmax)] * 2
    # the slice alone would have had another scale: the test can tell the two apart
    alone = metric_norm(cube.sel(x=2.0), "final_loss")
    assert (alone.vmin, alone.vmax) != (whole.vmin, whole.vmax)


def test_one_member_is_the_sweep_of_that_member_alone(cube):
    two = sim.sweep(LAND, ["gd", "momentum"], ["lr=0.05:0.45:3", "x=-1,2"], steps=5)
    one = two.one_member("momentum")
    assert one.members == ("momentum",) and one.grid_shape == two.grid_shape
    for name in two.metrics:
        np.testing.assert_array_equal(one.metrics[name][0], two.metrics[name][1])


def test_choosing_the_other_axis_swaps_them_and_transposes_the_map(cube):
    e = sim.sweep_explorer(cube)
    e.sliders["x"].value = 0.5
    drawn = e.figure_data[0]
    e.x_choice.value = "momentum"  # y's axis: the two swap
    assert e.drawn_axes == ("momentum", "lr") and e.fixed == {"x": 0.5}  # the slider kept its place
    np.testing.assert_array_equal(e.figure_data[0], drawn.T)
    assert_draws(e, cube, "final_loss", "momentum", "lr")


def test_an_axis_slid_over_can_be_drawn_and_the_one_it_replaces_gets_the_slider(cube):
    e = sim.sweep_explorer(cube)
    e.y_choice.value = "x"
    assert e.drawn_axes == ("lr", "x") and list(e.sliders) == ["momentum"] and e.fixed == {"momentum": 0.0}
    assert_draws(e, cube, "final_loss", "lr", "x")
    e.sliders["momentum"].value = 0.5
    assert e.fixed == {"momentum": 0.5}
    assert_draws(e, cube, "final_loss", "lr", "x")


def test_a_metric_change_redraws_that_metric(cube):
    e = sim.sweep_explorer(cube, "final_loss", x="momentum", y="lr")
    e.sliders["x"].value = 2.0
    e.metric_choice.value = "distance"
    assert_draws(e, cube, "distance", "momentum", "lr")
    assert not np.array_equal(e.figure_data[0], oracle(cube, e.fixed, "final_loss", "momentum", "lr"))


def test_every_metric_in_the_dropdown_is_drawn_cell_for_cell(cube):
    e = sim.sweep_explorer(cube)
    e.sliders["x"].value = 0.5
    for metric in e.metric_choice.options:
        e.metric_choice.value = metric
        expected = oracle(cube, e.fixed, metric, "lr", "momentum")
        # basins are drawn as colour indices: diverged, unfinished, then each listed minimum's
        np.testing.assert_array_equal(e.figure_data[0] - 2 if metric == "minimum" else e.figure_data[0], expected,
                                      err_msg=metric)


def test_two_axes_have_no_slider_and_one_axis_draws_its_lines():
    plane = sim.sweep(LAND, ["gd", "momentum(momentum=0.5)"], ["lr=0.05:0.45:3", "x=-1,2"], steps=10)
    e = sim.sweep_explorer(plane)
    assert e.sliders == {} and e.fixed == {} and e.status.value == "<code>sweep</code>"
    assert len(e.figure_data) == 2  # a heat map per member
    for i, drawn in enumerate(e.figure_data):
        np.testing.assert_array_equal(drawn, plane.metric("final_loss", i).T)
    alone = sim.sweep_explorer(plane, member="momentum(momentum=0.5)")
    assert alone.sweep.members == ("momentum(momentum=0.5)",) and len(alone.figure_data) == 1
    np.testing.assert_array_equal(alone.figure_data[0], plane.metric("final_loss", 1).T)
    line = sim.sweep(LAND, "gd", ["lr=0.05:0.45:4"], steps=10)
    e = sim.sweep_explorer(line, "distance")
    assert e.y_choice is None and e.sliders == {} and e.drawn_axes == ("lr", None)
    np.testing.assert_array_equal(e.figure_data[0], line.metric("distance"))


def test_bad_requests_are_refused_with_the_valid_names(cube):
    with pytest.raises(UnknownNameError, match="final_loss"):
        sim.sweep_explorer(cube, "final_los")
    with pytest.raises(UnknownNameError, match="momentum"):
        sim.sweep_explorer(cube, x="momentun")
    with pytest.raises(ValueError, match="both lr"):
        sim.sweep_explorer(cube, x="lr", y="lr")
    with pytest.raises(UnknownNameError):
        sim.sweep_explorer(cube, member="adam")
    with pytest.raises(TypeError, match="draws a Sweep"):
        sim.sweep_explorer(cube.metrics)
    with pytest.raises(ValueError, match="give no y"):
        sim.sweep_explorer(cube.sel(momentum=0.0, x=2.0), y="lr")


def test_without_ipywidgets_the_error_names_the_extra(cube, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"ipywidgets: pip install ipywidgets ipykernel \(from simulate.s checkout: pip install \"\.\[notebook\]\"\)"):
        sim.sweep_explorer(cube)


def test_it_displays_as_its_widgets_and_reads_as_one_line(cube):
    e = sim.sweep_explorer(cube)
    bundle = e._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == e.widget.model_id
    assert bundle["text/plain"] == repr(e) and repr(e).startswith("SweepExplorer(final_loss of Sweep(")


def test_a_sweep_of_three_axes_displayed_points_at_the_explorer(cube):
    html = mimebundle(cube)["text/html"]
    assert SLIDER_HINT in html and html.index(SLIDER_HINT) < html.index("<img")  # right under the summary line
    assert SLIDER_HINT not in mimebundle(cube.sel(x=2.0))["text/html"]
