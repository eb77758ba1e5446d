"""The interactive explorer, driven headless through its widgets' callbacks; the redrawn data is
checked against the library. Once for real in a window under Xvfb (skipped where it is missing)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import simulate as sim
from simulate.viz.explorer import Explorer, explore


class Click:
    def __init__(self, ax, x, y, button=1):
        self.inaxes, self.xdata, self.ydata, self.button = ax, x, y, button


@pytest.fixture
def explorer():
    return Explorer("himmelblau", ["gd(lr=0.01)", "momentum(lr=0.01, momentum=0.8)", "adam(lr=0.1)"], steps=40)


def test_the_first_draw_is_the_library_runs(explorer):
    run = sim.iterate("himmelblau", "gd(lr=0.01)", steps=40)
    np.testing.assert_array_equal(np.column_stack(explorer.iterate_lines[0].get_data()), run.x)
    flow = explorer.flow_lines[0].get_data()
    assert flow[0][0] == 0.0 and len(flow[0]) == 400


def test_a_log_slider_sets_lr_and_the_runs_are_redrawn(explorer):
    # gd's momentum is fixed at 0: no slider for it, nor for dampening (ignored without momentum)
    assert [s.label.get_text() for s in explorer.sliders[:2]] == ["log₁₀ lr", "weight_decay"]
    assert not explorer.sliders[2].ax.get_visible()
    explorer.sliders[0].set_val(np.log10(0.02))
    assert explorer.optimizers[0].label == "gd(lr=0.02)"
    run = sim.iterate("himmelblau", "gd(lr=0.02)", steps=40)
    np.testing.assert_allclose(np.column_stack(explorer.iterate_lines[0].get_data()), run.x, rtol=1e-12)


def test_choosing_an_optimizer_points_the_sliders_at_its_hyperparameters(explorer):
    explorer.choice.set_active(2)
    assert [s.label.get_text() for s in explorer.sliders if s.ax.get_visible()] == [
        "log₁₀ lr", "beta1", "beta2", "log₁₀ eps", "weight_decay"]  # every one of Adam's has a slider
    assert explorer.sliders[1].val == pytest.approx(0.9)
    explorer.sliders[1].set_val(0.5)
    assert explorer.optimizers[2].betas[0] == 0.5
    run = sim.iterate("himmelblau", "adam(lr=0.1, betas=(0.5, 0.999))", steps=40)
    np.testing.assert_allclose(np.column_stack(explorer.iterate_lines[2].get_data()), run.x, rtol=1e-12)


def test_a_click_sets_the_start(explorer):
    explorer.on_click(Click(explorer.ax, -2.0, 1.0))
    np.testing.assert_array_equal(explorer.x0, [-2.0, 1.0])
    for i, spec in enumerate(["gd(lr=0.01)", "momentum(lr=0.01, momentum=0.8)"]):
        run = sim.iterate("himmelblau", spec, [-2.0, 1.0], 40)
        np.testing.assert_allclose(np.column_stack(explorer.iterate_lines[i].get_data()), run.x, rtol=1e-12)
    explorer.on_click(Click(None, 3.0, 3.0))  # outside the contours: nothing happens
    np.testing.assert_array_equal(explorer.x0, [-2.0, 1.0])


def test_check_boxes_hide_optimizers_and_flows(explorer):
    explorer.visible.set_active(1)  # momentum off
    assert not explorer.iterate_lines[1].get_visible() and not explorer.flow_lines[1].get_visible()
    explorer.visible.set_active(3)  # flows off
    assert not any(line.get_visible() for line in explorer.flow_lines)
    before = explorer.flow_lines[0].get_data()
    explorer.sliders[0].set_val(np.log10(0.005))  # flows hidden are not recomputed
    assert explorer.flow_lines[0].get_data()[0] is before[0]
    assert explorer.iterate_lines[0].get_visible()


def test_explore_without_a_display_says_so(monkeypatch):
    import matplotlib

    from simulate.viz.explorer import can_show

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "TkAgg")  # an interactive backend: the display decides
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not can_show()
    with pytest.raises(ValueError, match="needs a window"):
        explore("himmelblau")
    monkeypatch.setenv("DISPLAY", ":0")
    assert can_show()
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    assert not can_show()
    with pytest.raises(ValueError, match="needs a 2-D landscape"):
        Explorer("rosenbrock(dim=3)")


def test_bad_input_is_named_before_the_display_is_asked_and_no_figure_is_left(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    from simulate.cli.app import main

    before = plt.get_fignums()
    for args, message in ((["--start", "1,2,3"], "himmelblau is 2-dimensional"), (["-l", "himmelblaw"], "Did you mean"),
                          (["-o", "adamm"], "Did you mean")):
        assert main(["explore", *args]) == 2
        assert message in capsys.readouterr().err
    assert plt.get_fignums() == before


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_a_real_window_under_xvfb(tmp_path):
    display = ":97"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "DISPLAY": display, "MPLBACKEND": "TkAgg"}
        shot = tmp_path / "window.png"
        result = subprocess.run([sys.executable, "-m", "simulate", "explore", "--steps", "30", "--screenshot", str(shot)],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        from PIL import Image

        with Image.open(shot) as im:
            pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
        assert len(pixels) > 600 * 400 and len(np.unique(pixels, axis=0)) > 50  # a drawn window, not blank
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_refused_slider_move_puts_the_knob_back(explorer):
    explorer.choice.set_active(1)
    explorer.optimizers[1] = sim.optimizer("nesterov(lr=0.01, momentum=0.8)")
    explorer._configure_sliders()
    explorer.sliders[1].set_val(0.0)  # nesterov needs momentum > 0: refused
    assert explorer.sliders[1].val == pytest.approx(0.8) and "nesterov requires momentum" in explorer.status.get_text()


def test_a_diverging_run_gets_a_flow_only_up_to_its_stop():
    ex = Explorer("himmelblau", ["gd(lr=0.01)"], steps=100)
    ex.sliders[0].set_val(0.0)  # lr = 1: diverges within a few steps
    run = sim.iterate("himmelblau", "gd(lr=1)", steps=100)
    assert 0 < run.diverged_at < 10
    assert ex.flow_times[0][-1] == run.t[run.diverged_at]  # the flow is integrated only to the stop


def test_a_bad_screenshot_path_is_refused_before_any_window(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        explore("himmelblau", screenshot=tmp_path / "missing" / "s.png")
    (tmp_path / "s.png").write_text("the user's file")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        explore("himmelblau", screenshot=tmp_path / "s.png")
    assert (tmp_path / "s.png").read_text() == "the user's file"
