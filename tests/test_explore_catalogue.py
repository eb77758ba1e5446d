"""The explorer with every optimizer of the catalogue, headless: each slider moved, a new start
clicked, the flows and the optimizer toggled. Every redraw is checked against the library's own
runs of the optimizer the explorer then holds (sim.iterate, sim.integrate on the same model)."""

import math

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.sweep import sweepable
from simulate.models import available_flows, flow as make_flow
from simulate.optimizers import OPTIMIZERS
from simulate.optimizers.hyper import declaration
from simulate.solvers.continuous import WALL_TIME
from simulate.viz.explorer import FLOW_SECONDS, Explorer

LAND = "quadratic(eigenvalues=(1, 4))"
GAME = "bilinear"  # for the optimizers that alternate between players
STEPS = 8  # the whole file: 56 explorers in ~16 s (each window ~0.45 s to build), so not marked slow

COMPOSED = ["adam(lr=0.05, lookahead=(5, 0.5))", "gd(lr=0.05, schedule='cosine')", "momentum(lr=0.05, clip_norm=1)",
            "nag-c(lr=0.01, schedule='cosine')", "rprop(lookahead=5)", "lbfgs(lr=0.1, max_iter=4, lookahead=3)",
            "schedule-free-sgd(lr=0.05, warmup_steps=3)", "polyak(c=0.5)"]
MATRICES = ["matrix-sensing(m=1, n=2)", "matrix-factorization(m=1, n=1, r=1, rank=1)",
            "linear-net(inputs=1, hidden=1, outputs=1)"]


class Click:
    def __init__(self, ax, x, y, button=1):
        self.inaxes, self.xdata, self.ydata, self.button = ax, x, y, button


def _explorer(spec, land=LAND):
    try:
        return Explorer(land, [spec], steps=STEPS)
    except ValueError as exc:
        if "needs a game" not in str(exc):
            raise
        return Explorer(GAME, [spec], steps=STEPS)


def _model(opt, steps=STEPS):
    try:
        return make_flow(opt).for_steps(steps)
    except ValueError:
        return None


def _drawn(line):
    return np.column_stack(line.get_data())


def _check_iterates(ex):
    """The drawn iterates are the library's run of the optimizer the explorer holds, on its model's clock."""
    opt = ex.optimizers[0]
    run = sim.iterate(ex.landscape, opt, ex.x0, STEPS, time_per_step=_model(opt))
    np.testing.assert_allclose(_drawn(ex.iterate_lines[0]), run.x, rtol=1e-12, atol=1e-300)
    return run


def _check_flow(ex, run, full=False):
    """A model: the flow drawn from the start to where the iterates stopped (``full``: and the library's
    flow there, unless the budget stopped it). None: nothing drawn, and said."""
    opt = ex.optimizers[0]
    model = _model(opt)
    xy = _drawn(ex.flow_lines[0])
    if model is None:
        assert xy.size == 0 and ex.flow_times[0] is None
        assert "no model: 1" in ex.visible.labels[-1].get_text() and "no flow:" in ex.status.get_text()
        return
    assert ex.visible.labels[-1].get_text() == "flows"
    last = run.diverged_at if run.diverged_at >= 0 else STEPS
    assert ex.flow_times[0][-1] == run.t[last] and len(xy) == 400
    np.testing.assert_allclose(xy[0], ex.x0, rtol=1e-12)
    if full and "flow stopped early" not in ex.status.get_text():  # drawn in full: it is the library's flow
        path = sim.integrate(ex.landscape, opt, ex.x0, ex.flow_times[0], steps=STEPS, flow=model)
        np.testing.assert_allclose(xy, path.x, rtol=1e-6, atol=1e-9)


def _exercise(ex):
    _check_flow(ex, _check_iterates(ex), full=True)
    accepted = 0
    for j, name in enumerate(list(ex.knobs)):
        before, slider = ex.optimizers[0], ex.sliders[j]
        assert slider.ax.get_visible() and slider.label.get_text().endswith(name)
        field, index = sweepable(before)[name]
        old = float(np.asarray(getattr(before, field) if index is None else getattr(before, field)[index]))
        position = slider.valmin + 0.3 * (slider.valmax - slider.valmin)
        if np.isclose(slider.val, position):
            position = slider.valmin + 0.7 * (slider.valmax - slider.valmin)
        slider.set_val(position)
        after = ex.optimizers[0]
        if after is before:  # refused (a combination the optimizer does not take): said, and the knob put back
            assert ex.status.get_text().startswith(ex.names[0]) and slider.val == pytest.approx(
                math.log10(old) if "log₁₀" in slider.label.get_text() and old > 0 else old)
            continue
        accepted += 1
        value = 10.0**position if "log₁₀" in slider.label.get_text() else position
        if slider.valstep == 1.0:
            value = math.floor(value + 0.5)
        new = getattr(after, field)
        assert float(np.asarray(new if index is None else new[index])) == pytest.approx(value, rel=1e-12)
        _check_flow(ex, _check_iterates(ex))
    assert accepted >= 1  # at least its step size moved
    # a new start: the iterates (and the flow) from there
    (lo, hi), (lo2, hi2) = ex.landscape.bounds[0], ex.landscape.bounds[-1]
    ex.on_click(Click(ex.ax, 0.3 * lo + 0.7 * hi, 0.6 * lo2 + 0.4 * hi2))
    np.testing.assert_array_equal(ex.x0, [0.3 * lo + 0.7 * hi, 0.6 * lo2 + 0.4 * hi2][:ex.landscape.dim])
    _check_flow(ex, _check_iterates(ex), full=True)
    # flows off: hidden, not recomputed on a move; on again: drawn from the current start
    ex.visible.set_active(1)
    assert not ex.flow_lines[0].get_visible() and ex.iterate_lines[0].get_visible()
    ex.on_click(Click(ex.ax, 0.5 * lo + 0.5 * hi, 0.5 * lo2 + 0.5 * hi2))
    ex.visible.set_active(1)
    assert ex.flow_lines[0].get_visible()
    _check_flow(ex, _check_iterates(ex))
    ex.visible.set_active(0)  # the optimizer off and on
    assert not ex.iterate_lines[0].get_visible() and not ex.flow_lines[0].get_visible()
    ex.visible.set_active(0)
    _check_iterates(ex)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_in_the_explorer(name):
    _exercise(_explorer(name))


@pytest.mark.parametrize("spec", COMPOSED)
def test_composed_settings_in_the_explorer(spec):
    _exercise(_explorer(spec))


@pytest.mark.parametrize("land", MATRICES)
@pytest.mark.parametrize("name", ["muon", "adam"])
def test_matrix_landscapes_in_the_explorer(land, name):
    _exercise(_explorer(f"{name}(lr=0.02)", land))


def test_lookahead_sliders_are_the_inner_optimizers_and_its_own_and_k_is_whole():
    ex = _explorer("adam(lr=0.05, lookahead=(5, 0.5))")
    assert [s.label.get_text() for s in ex.sliders if s.ax.get_visible()] == [
        "log₁₀ lr", "beta1", "beta2", "log₁₀ eps", "weight_decay", "k", "alpha"]
    ex.sliders[5].set_val(7.4)  # between whole numbers: the count of steps is rounded, not refused
    assert float(ex.optimizers[0].k) == 7.0 and ex.optimizers[0].label == "adam(lr=0.05, lookahead=(7, 0.5))"
    assert ex.sliders[5].valstep == 1.0 and ex.sliders[6].valstep is None
    opt = ex.optimizers[0]
    assert declaration(opt, "lr") is type(opt.inner).hyperparameters()["lr"] and declaration(opt, "k").whole
    assert declaration(opt, "momentum") is None and not declaration(opt, "alpha").whole


def test_polyak_slider_is_c_as_its_sweep_axes_and_labels_say():
    ex = _explorer("polyak(c=0.5)")
    assert [s.label.get_text() for s in ex.sliders if s.ax.get_visible()] == ["log₁₀ c"]
    ex.sliders[0].set_val(math.log10(1.5))
    assert float(ex.optimizers[0].lr) == pytest.approx(1.5, rel=1e-12)
    assert [t.get_text() for t in ex.legend.get_texts()][-1] == "polyak(c=1.5)"


def test_without_a_model_the_iterates_are_drawn_alone_and_the_check_box_says_so():
    assert available_flows(sim.optimizer("rprop")) == []
    ex = Explorer(LAND, ["gd(lr=0.1)", "rprop", "nag-c(lr=0.01, schedule='cosine')"], steps=STEPS)
    assert ex.visible.labels[-1].get_text() == "flows (no model: 2, 3)"
    assert len(ex.flow_lines[0].get_xdata()) == 400 and len(ex.flow_lines[1].get_xdata()) == 0
    text = ex.status.get_text()
    assert "no flow: exact flow: Rprop has no continuous model" in text
    assert "no flow: limit flow: it assumes a constant lr" in text
    np.testing.assert_array_equal(_drawn(ex.iterate_lines[1]), sim.iterate(LAND, "rprop", steps=STEPS).x)


def test_a_refused_optimizer_is_named_before_anything_opens(capsys):
    import matplotlib.pyplot as plt

    from simulate.cli.app import main

    before = plt.get_fignums()
    with pytest.raises(ValueError, match="SparseAdam.*is not simulated"):
        Explorer(LAND, ["gd", "sparse-adam"])
    assert main(["explore", "-o", "gd", "-o", "sparse-adam"]) == 2
    assert "use 'adam'" in capsys.readouterr().err
    assert plt.get_fignums() == before


def test_a_flow_past_its_wall_time_is_drawn_as_far_as_it_got_and_said():
    assert FLOW_SECONDS <= 5  # an interactive budget, not the batch solver's minute
    ex = Explorer("himmelblau", ["momentum(lr=0.01)"], steps=40)
    assert "stopped early" not in ex.status.get_text()
    ex.flow_seconds = 1e-9  # no solver step fits: the budget ends the flow at once
    ex.recompute()
    text = ex.status.get_text()
    assert f"flow stopped early, at t = 0 of {ex.flow_times[0][-1]:.3g}: its 1e-09 s {WALL_TIME} ran out" in text
    x = _drawn(ex.flow_lines[0])
    np.testing.assert_array_equal(x[0], ex.x0)
    assert np.isnan(x[1:]).all()  # after the stop: nothing drawn


def test_several_gradients_a_step_are_said():
    ex = Explorer(LAND, ["gd(lr=0.1)", "lbfgs(lr=0.1)", "rk4(lr=0.1)"], steps=STEPS)
    lines = ex.status.get_text().split("\n")
    lbfgs = lines.index(next(line for line in lines if line.startswith("2. lbfgs")))
    assert lines[lbfgs + 1].strip() == f"a step: up to {sim.optimizer('lbfgs').evaluations_per_step} gradient " \
                                       f"evaluations" == "a step: up to 20 gradient evaluations"
    assert lines[lbfgs + 2].strip() == "dashed: its newton flow"  # not a lift: its idealization, said
    assert "    a step: up to 4 gradient evaluations" in lines
    assert not any("gradient evaluations" in line for line in lines[:lbfgs])  # gd: one a step, nothing to say
