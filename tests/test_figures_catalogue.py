"""The matrix-landscape figure and the tune figure, as a new-user trial found them: checked on what is
drawn (lines' data, texts, legend entries, limits and aspect) and, after a draw, on where the legends
and titles fall (window extents), not on pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from matplotlib.transforms import Bbox

import simulate as sim
from simulate.landscapes.matrix import MatrixSensing
from simulate.viz.figures import add_caption
from simulate.viz.matrix import block_singular_values, block_style, plot_singular_values
from simulate.viz.tuning import tune_figure


# -- layout: legends and titles clear of each other and of the data --------------------------------
def _drawn(fig):
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _meet(a, b, slack: float = 0.5) -> bool:
    """Whether two window boxes share more than a sliver (``slack`` pixels) of area."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack) and (min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


def assert_nothing_overlaps(fig):
    """No legend meets another legend, a panel's data area (which holds every drawn line), its tick
    labels or axis labels, or a title; no title meets another, leaves the figure or is wider than
    its panel (the tune figure's lr panel title ran across the gap to the next panel)."""
    r = _drawn(fig)
    panels = [ax for ax in fig.axes if ax.axison]
    legends = [lg for lg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    legend_boxes = [lg.get_window_extent(r) for lg in legends]
    titles = [(ax, ax.title.get_window_extent(r)) for ax in fig.axes if ax.get_title()]
    for i, a in enumerate(legend_boxes):
        assert not any(_meet(a, b) for b in legend_boxes[i + 1:]), "two legends overlap"
        for ax in panels:
            assert not _meet(a, ax.get_window_extent(r)), f"a legend covers the data of {ax.get_title()!r}"
            for line in ax.lines:  # each drawn line where it is in view (implied by the data area's check)
                seen = Bbox.intersection(line.get_window_extent(r), ax.bbox)
                assert seen is None or not _meet(a, seen), f"a legend covers a line of {ax.get_title()!r}"
            for axis in (ax.xaxis, ax.yaxis):
                assert not _meet(a, axis.get_tightbbox(r)), f"a legend covers the labels of {ax.get_title()!r}"
        assert not any(_meet(a, box) for _, box in titles), "a legend covers a title"
    page = fig.bbox
    for i, (ax, box) in enumerate(titles):
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1, f"{ax.get_title()!r} clipped"
        own = Bbox.union([ax.get_window_extent(r), ax.yaxis.get_tightbbox(r)])  # the panel and its y labels
        assert own.x0 - 1 <= box.x0 and box.x1 <= own.x1 + 1, f"{ax.get_title()!r} is wider than its panel"
        assert not any(_meet(box, other) for _, other in titles[i + 1:]), "two titles overlap"
        for other in panels:
            if other is not ax:
                assert not _meet(box, other.get_window_extent(r)), f"{ax.get_title()!r} runs into another panel"


# -- the matrix figure ------------------------------------------------------------------------------
def _panel(fig, start: str):
    return next(ax for ax in fig.axes if ax.get_title().startswith(start))


@pytest.fixture(scope="module")
def sensing():
    return sim.plot("matrix-sensing", ["muon(lr=0.02)", "adam(lr=0.02)"], steps=30)


@pytest.fixture(scope="module")
def factorization():
    return sim.plot("matrix-factorization", ["muon(lr=0.02)", "gd(lr=0.05)"], steps=30)


def test_a_minimum_value_that_is_rounding_reads_f_star_0(sensing):
    land = sensing.experiment.landscape
    f_star = float(land.value(land.minima[0]))
    assert 0 < abs(f_star) < 1e-25  # the trial's "f* = 3.236e-32": rounding, not a value
    loss = _panel(sensing.figure, "loss")
    assert loss.get_ylabel() == "f − f* (f* = 0)"
    assert not any("e-3" in t.get_text() for t in sensing.figure.findobj(Text))
    it = sensing.experiment.entries[0].iterates
    drawn = next(line for line in loss.lines if line.get_label().startswith(f"{it.optimizer.display_name} (h = "))
    np.testing.assert_array_equal(drawn.get_ydata(), np.where(it.f > 0, it.f, np.nan))  # f − 0


def test_a_true_minimum_value_is_kept():
    @dataclass(frozen=True, eq=False)
    class Lifted(MatrixSensing):  # f* = 1/4: a value, not rounding
        def _value(self, x):
            return super()._value(x) + 0.25

    result = sim.plot(Lifted(), ["muon(lr=0.02)"], steps=10)
    loss = _panel(result.figure, "loss")
    assert loss.get_ylabel() == "f − f* (f* = 0.25)"
    it = result.experiment.entries[0].iterates
    drawn = next(line for line in loss.lines if line.get_label().startswith(f"{it.optimizer.display_name} (h = "))
    np.testing.assert_allclose(drawn.get_ydata(), it.f - 0.25, rtol=1e-12)


def test_no_panel_is_left_empty(sensing, factorization):
    # one matrix has no product: three panels, its singular values across the lower row
    assert len(sensing.figure.axes) == 3
    assert len(factorization.figure.axes) == 4
    for result in (sensing, factorization):
        for ax in result.figure.axes:
            assert ax.lines and not ax.texts, ax.get_title()
    wide = _panel(sensing.figure, "singular values of the 2×3 matrix")
    path = _panel(sensing.figure, "matrix-sensing")
    r = _drawn(sensing.figure)
    assert wide.get_window_extent(r).width > 1.8 * path.get_window_extent(r).width


@pytest.mark.parametrize("which", ["sensing", "factorization"])
def test_the_projection_has_equal_axes(which, request):
    fig = request.getfixturevalue(which).figure
    ax = _panel(fig, {"sensing": "matrix-sensing", "factorization": "matrix-factorization"}[which])
    _drawn(fig)
    assert ax.get_aspect() == 1.0
    (x0, y0), (x1, y1) = ax.transData.transform([[0.0, 0.0], [1.0, 1.0]])
    assert x1 - x0 == pytest.approx(y1 - y0, rel=1e-9)  # a unit along either direction is as long
    # and every point drawn is in view (the box kept its size: the data limits grew instead)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), float)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        assert np.all((xy[:, 0] >= xlim[0]) & (xy[:, 0] <= xlim[1]) & (xy[:, 1] >= ylim[0]) & (xy[:, 1] <= ylim[1]))


def test_block_line_styles_are_drawn_and_said(factorization):
    fig = factorization.figure
    ax = _panel(fig, "singular values of each block")
    muon = factorization.experiment.entries[0].iterates
    want = block_singular_values(muon.landscape, muon.x)
    # muon's lines come first: block 1's two singular values solid, then block 2's dashed
    for line, (b, i) in zip(ax.lines[:4], [(0, 0), (0, 1), (1, 0), (1, 1)]):
        np.testing.assert_array_equal(line.get_ydata(), want[b][:, i])
        assert line.get_linestyle() == {0: "-", 1: "--"}[b] == block_style(b)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["block 1 (3×2)", "block 2 (3×2)"]
    assert [h.get_linestyle() for h in legend.legend_handles] == ["-", "--"]
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert not any("line style" in t for t in texts)
    # one matrix: no block legend, the title names its shape
    one = _panel(sim.plot("matrix-sensing", ["gd"], steps=5).figure, "singular values")
    assert one.get_title() == "singular values of the 2×3 matrix (iterates)" and one.get_legend() is None


def test_plot_singular_values_keeps_the_block_style_over_the_iterates_style(factorization):
    import matplotlib.pyplot as plt

    traj = factorization.experiment.entries[1].iterates
    ax = plot_singular_values(traj, ls=":")  # the block says the style
    assert [line.get_linestyle() for line in ax.lines] == ["-", "-", "--", "--"]
    plt.close(ax.figure)


@pytest.mark.parametrize("which", ["sensing", "factorization"])
def test_the_matrix_figure_has_nothing_overlapping(which, request):
    assert_nothing_overlaps(request.getfixturevalue(which).figure)


# -- the tune figure --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tuning():
    # the trial's command: simulate tune -o gd,momentum,adam,rmsprop (rosenbrock, 200 evaluations)
    return sim.tune("rosenbrock", ["gd", "momentum", "adam", "rmsprop"])


def test_the_tune_figure_has_one_legend_for_all_panels(tuning):
    fig = tune_figure(tuning)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    texts = [t.get_text() for t in legends[0].get_texts()]
    for r in tuning.results:
        assert sum(t.startswith(r.optimizer.label + " [") for t in texts) == 1
    for key in ("known minima", "start", "iterates", "continuous flow", "tuned lr"):
        assert key in texts
    assert any(t.startswith("lrs whose best is within 10%") for t in texts)
    # the legend's colours and markers are the ones drawn for each optimizer in the lr panel
    obj = next(ax for ax in fig.axes if ax.get_xlabel() == "lr")
    profiles = [line for line in obj.lines if line.get_marker() != "*" and line.get_linewidth() < 6]  # not ★, bar
    assert len(profiles) == len(tuning.results)
    for r, handle, drawn in zip(tuning.results, legends[0].legend_handles, profiles):
        np.testing.assert_array_equal(drawn.get_xdata(), r.axes[0].values)
        assert (handle.get_color(), handle.get_marker()) == (drawn.get_color(), drawn.get_marker())
        profile = r.profile("lr")
        np.testing.assert_array_equal(drawn.get_ydata(), np.where(np.isfinite(profile), profile, np.nan))


def test_the_tune_figure_has_nothing_overlapping(tuning):
    assert_nothing_overlaps(tune_figure(tuning))


def test_the_tune_figure_has_room_for_a_caption(tuning):
    words = "what to look at: " + "the tuned lr of each optimizer, " * 8
    fig = add_caption(tune_figure(tuning), words)
    r = _drawn(fig)
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
    caption = next(t for t in fig.findobj(Text) if t.get_text().startswith("what to look at")).get_window_extent(r)
    assert not _meet(caption, legend.get_window_extent(r))
    assert fig.bbox.y0 - 1 <= caption.y0
    assert_nothing_overlaps(fig)


def test_larger_type_still_fits(tuning, factorization):
    # --font-scale 1.3: restyle re-wraps one-line titles only, so the pre-wrapped ones must leave room
    import warnings

    from simulate.viz.matrix import matrix_figure
    from simulate.viz.style import LayoutWarning, restyle

    for fig in (tune_figure(tuning), matrix_figure(factorization.experiment)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", LayoutWarning)
            restyle(fig, font_scale=1.3)
        assert_nothing_overlaps(fig)


def test_scores_of_exactly_zero_do_not_flatten_the_lr_panel():
    # on Himmelblau the tuned runs reach the minimum to rounding: final_loss 0 beside 1e6
    t = sim.tune("himmelblau", ["gd", "momentum"], runs=False)
    fig = tune_figure(t)
    FigureCanvasAgg(fig).draw()
    ax = _panel(fig, "final_loss")
    drawn = np.concatenate([np.ravel(line.get_ydata()) for line in ax.lines])
    drawn = drawn[np.isfinite(drawn)]
    assert (drawn == 0).any() and drawn.max() > 1e5
    positive = drawn[drawn > 1e-16 * drawn.max()]  # below: the minimum to rounding, drawn as 0
    assert ax.get_yscale() == "symlog" and ax.get_ylim()[0] == 0
    y = ax.transData.transform(np.column_stack([np.ones(3), [0.0, positive.min(), positive.max()]]))[:, 1]
    height = ax.bbox.height
    assert y[1] - y[0] > 0.02 * height and y[2] - y[1] > 0.6 * height  # 0 apart, the decades spread out
