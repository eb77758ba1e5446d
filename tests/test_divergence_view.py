"""A diverging run does not set the axes, and its cross stays in sight at the edge of the view
(issue 19): checked on the drawn data, not on pixels."""

import numpy as np

import simulate as sim
from simulate.viz.plotting import DIVERGED


def _crosses(ax):
    return [line for line in ax.lines if line.get_gid() == DIVERGED]


def _inside(ax, line) -> bool:
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    x, y = (float(np.asarray(v)[-1]) for v in line.get_data())
    tol = 1e-9 * max(abs(x1 - x0), abs(y1 - y0))
    return x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol


def test_in_one_dimension_the_graph_keeps_its_shape_and_the_cross_is_in_view():
    result = sim.plot("x**2", ["gd(lr=1.5)", "gd(lr=0.3)"], start=[1.0], steps=30)
    ax_path, ax_loss = result.figure.axes[:2]
    assert result.experiment.entries[0].iterates.diverged and not result.experiment.entries[1].iterates.diverged
    low, high = ax_path.get_ylim()
    assert high < 30 and low > -2  # f = x² over [−5, 5] reaches 25; the diverged member reached ~1e40
    for ax in (ax_path, ax_loss):
        crosses = _crosses(ax)
        assert len(crosses) == 1 and _inside(ax, crosses[0])


def test_in_two_dimensions_the_cross_sits_where_the_last_step_leaves_the_view():
    result = sim.plot("himmelblau", ["gd(lr=0.05)", "gd(lr=0.01)"], steps=100)
    ax_path, ax_loss = result.figure.axes[:2]
    run = result.experiment.entries[0].iterates
    k = int(run.diverged_at)
    assert k > 1
    for ax in (ax_path, ax_loss):
        crosses = _crosses(ax)
        assert len(crosses) == 1 and _inside(ax, crosses[0])
    # on the loss panel the last drawn step (k − 2 to k − 1) starts inside and leaves through the top
    x, y = (float(np.asarray(v)[-1]) for v in _crosses(ax_loss)[0].get_data())
    assert k - 2 - 1e-9 <= x <= k - 1 + 1e-9 and np.isclose(y, ax_loss.get_ylim()[1])


def test_pin_to_view_keeps_inner_crosses_and_puts_outer_ones_where_the_last_step_crosses_the_edge():
    from matplotlib.figure import Figure

    from simulate.viz.plotting import _mark_divergence, pin_to_view

    ax = Figure().add_subplot()
    _mark_divergence(ax, np.array([0.0, 0.5]), np.array([0.0, 0.5]), "k")     # inside: stays
    _mark_divergence(ax, np.array([0.0, 3.0]), np.array([0.0, 1.5]), "k")     # from inside: crosses x = 1 at y = 0.5
    _mark_divergence(ax, np.array([2.0, 3.0]), np.array([-4.0, -5.0]), "k")   # from outside: the nearest edge point
    ax.set(xlim=(-1, 1), ylim=(-1, 1))
    pin_to_view(ax)
    got = [tuple(float(np.asarray(v)[-1]) for v in line.get_data()) for line in _crosses(ax)]
    assert got == [(0.5, 0.5), (1.0, 0.5), (1.0, -1.0)]
    log = Figure().add_subplot()
    _mark_divergence(log, np.array([1.0, 2.0]), np.array([1.0, 1e6]), "k")     # on a log axis: crossing at 10²
    log.set(yscale="log", xlim=(0, 10), ylim=(1e-2, 1e2))
    pin_to_view(log)
    x, y = (float(np.asarray(v)[-1]) for v in _crosses(log)[0].get_data())
    assert np.isclose(y, 1e2) and np.isclose(x, 1 + 2 / 6)  # log10 y climbs 0 -> 6 over the step, 2 of it in view
