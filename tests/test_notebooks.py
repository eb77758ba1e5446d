"""Notebooks executed headless by a real kernel (nbclient, the venv's ``python3``), their outputs checked:
a result displays as an image, the explorer as a widget whose model is in the notebook's widget state,
and a slider moved through the widget's Python side redraws the library's run. The tutorial under
notebooks/ runs here too, so it cannot rot. Then the notebook explorer in-process (ipywidgets need no
front end), against the desktop window's drawing and the library's runs."""

import base64
import hashlib
import io
import json
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

import simulate as sim
from simulate.viz import notebook
from simulate.viz.explorer import Explorer, slider_ranges
from simulate.viz.notebook import NotebookExplorer

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LAND = "quadratic(eigenvalues=(1, 4))"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def execute(nb, cwd) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in a fresh ``python3`` kernel (an error in a cell fails the test)."""
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def first_output(cell) -> dict:
    assert cell.outputs, cell.source
    return cell.outputs[0]


def printed(cell) -> dict:
    """The JSON a cell printed last."""
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def widget_state(nb) -> dict:
    return nb.metadata.widgets[WIDGET_STATE]["state"]


PROBE = [
    "import hashlib, json\nimport numpy as np\nimport simulate as sim\nLAND = 'quadratic(eigenvalues=(1, 4))'",
    "sim.sweep(LAND, 'gd', 'lr=0.05:0.45:5', steps=20)",
    "w = sim.explore(LAND, ['gd(lr=0.1)', 'momentum(lr=0.1, momentum=0.5)'], [1.0, 1.0], steps=20)\nw",
    """before = w.image.value
w.sliders['lr'].value = 0.2
print(json.dumps({"label": w.exploration.optimizers[0].label, "changed": w.image.value != before,
                  "drawn": np.column_stack(w.view.iterate_lines[0].get_data()).tolist(),
                  "image": hashlib.sha256(w.image.value).hexdigest(), "image_model": w.image.model_id}))""",
    # a sweep of three axes: its display points at the sweep explorer, which shows as widgets with a slider
    "cube = sim.sweep(LAND, 'momentum', ['lr=0.05:0.45:3', 'momentum=0,0.5', 'x=-1,2'], steps=10)\ncube",
    "e = sim.sweep_explorer(cube)\ne",
    """before = e.image.value
e.sliders['x'].value = 2.0
print(json.dumps({"fixed": e.fixed, "changed": e.image.value != before, "drawn": e.figure_data[0].tolist(),
                  "image": hashlib.sha256(e.image.value).hexdigest(), "image_model": e.image.model_id}))""",
]


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in PROBE])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return execute(nb, tmp_path_factory.mktemp("probe"))


def test_a_sweep_displays_as_its_heat_map_with_its_one_line_repr(probe):
    from simulate.viz.figures import sweep_figure
    from simulate.viz.inline import DPI

    out = first_output(probe.cells[1])
    assert out.output_type == "execute_result"
    sweep = sim.sweep(LAND, "gd", "lr=0.05:0.45:5", steps=20)
    assert out.data["text/plain"] == repr(sweep)
    with Image.open(io.BytesIO(base64.b64decode(out.data["image/png"]))) as im:
        assert im.size == tuple(int(round(v)) for v in sweep_figure(sweep).get_size_inches() * DPI)
    assert sweep.summary().split("\n")[0] in out.data["text/html"]


def test_the_explorer_is_a_widget_whose_model_the_notebook_holds(probe):
    out = first_output(probe.cells[2])
    assert out.output_type == "execute_result" and WIDGET_VIEW in out.data
    assert out.data["text/plain"].startswith("NotebookExplorer(gd(lr=0.1), momentum(")  # one line, not the widgets
    state = widget_state(probe)
    root = state[out.data[WIDGET_VIEW]["model_id"]]
    assert root["model_name"] == "HBoxModel"
    image_id = root["state"]["children"][0].removeprefix("IPY_MODEL_")
    assert state[image_id]["model_name"] == "ImageModel"
    sliders = [m for m in state.values() if m["model_name"] == "FloatLogSliderModel"]
    assert any(m["state"]["description"] == "lr" for m in sliders)


def test_a_slider_moved_through_python_redraws_the_librarys_run(probe):
    got = printed(probe.cells[3])
    assert got["label"] == "gd(lr=0.2)" and got["changed"]
    run = sim.iterate(LAND, "gd(lr=0.2)", [1.0, 1.0], 20)
    np.testing.assert_array_equal(np.array(got["drawn"]), run.x)
    # the front end was sent the new image: the notebook's widget state holds its bytes
    image = widget_state(probe)[got["image_model"]]
    buffer = next(b for b in image["buffers"] if b["path"] == ["value"])
    assert hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest() == got["image"]


def test_a_sweep_of_three_axes_shows_a_slider_over_the_third_that_redraws_the_slice(probe):
    from simulate.viz.display import SLIDER_HINT

    assert SLIDER_HINT in first_output(probe.cells[4]).data["text/html"]
    out = first_output(probe.cells[5])
    assert WIDGET_VIEW in out.data and out.data["text/plain"].startswith("SweepExplorer(final_loss of Sweep(")
    state = widget_state(probe)
    assert out.data[WIDGET_VIEW]["model_id"] in state
    sliders = [m for m in state.values() if m["model_name"] == "SelectionSliderModel"]
    assert [m["state"]["description"] for m in sliders] == ["x"]
    assert sliders[0]["state"]["_options_labels"] == ["-1", "2"]
    got = printed(probe.cells[6])
    assert got["fixed"] == {"x": 2.0} and got["changed"]
    cube = sim.sweep(LAND, "momentum", ["lr=0.05:0.45:3", "momentum=0,0.5", "x=-1,2"], steps=10)
    np.testing.assert_array_equal(np.array(got["drawn"]), cube.sel(x=2.0).metric("final_loss").T)
    image = state[got["image_model"]]  # the front end was sent the new slice's image
    buffer = next(b for b in image["buffers"] if b["path"] == ["value"])
    assert hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest() == got["image"]


@pytest.mark.slow  # ~18 s: a kernel, an order ladder, a sweep, a plot and the explorer
def test_the_tutorial_runs_and_shows_what_it_says(tmp_path):
    nb = execute(nbformat.read(NOTEBOOKS / "gd-is-euler.ipynb", as_version=4), NOTEBOOKS)
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {c.source.split("\n")[0]: c for c in code}
    checks = next(c for c in code if "print(\"iterates" in c.source)
    assert "iterates = (1 - h·λ)^k x0: True" in checks.outputs[0].text
    assert "flow     = exp(-t·λ) x0:   True" in checks.outputs[0].text
    ladder = next(c for c in code if c.source.startswith("ladder = sim.order"))
    observed = float(ladder.outputs[0].text.split("observed order ")[1].split()[0])
    assert abs(observed - 1.0) < 0.1  # Euler: first order
    for source in ("ladder = sim.order", "sim.plot(", "sim.sweep("):
        cell = next(c for c in code if c.source.startswith(source))
        assert "image/png" in [o for o in cell.outputs if o.output_type == "execute_result"][0].data
    explorer = by_source[next(k for k in by_source if k.startswith("explorer = sim.explore"))]
    assert WIDGET_VIEW in first_output(explorer).data
    assert first_output(explorer).data[WIDGET_VIEW]["model_id"] in widget_state(nb)


# -- in-process: the widgets without a front end -------------------------------------------------------------
@pytest.fixture
def widgets():
    return NotebookExplorer(LAND, ["gd(lr=0.1)", "adam(lr=0.1)", "adam(lr=0.05, lookahead=(5, 0.5))"], [1.0, 1.0],
                            steps=15)


def drawn(line):
    return np.column_stack(line.get_data())


def test_the_sliders_are_the_optimizers_declared_ones(widgets):
    assert list(widgets.sliders) == ["lr", "weight_decay"]  # gd: momentum fixed at 0
    widgets.choice.value = widgets.exploration.names[1]
    adam = widgets.exploration.optimizers[1]
    assert list(widgets.sliders) == ["lr", "beta1", "beta2", "eps", "weight_decay"]
    for name, (lo, hi, log) in slider_ranges(adam).items():
        s = widgets.sliders[name]
        assert type(s).__name__ == ("FloatLogSlider" if log else "FloatSlider")
        assert (s.min, s.max) == ((pytest.approx(math.log10(lo)), pytest.approx(math.log10(hi))) if log else (lo, hi))
    assert widgets.sliders["beta1"].value == 0.9
    widgets.choice.value = widgets.exploration.names[2]
    assert type(widgets.sliders["k"]).__name__ == "IntSlider"  # lookahead's k counts steps


def test_a_slider_change_redraws_the_librarys_run(widgets):
    before = widgets.image.value
    widgets.choice.value = widgets.exploration.names[1]
    widgets.sliders["beta1"].value = 0.5
    assert widgets.exploration.optimizers[1].label == "adam(lr=0.1, betas=(0.5, 0.999))"
    run = sim.iterate(LAND, "adam(lr=0.1, betas=(0.5, 0.999))", [1.0, 1.0], 15)
    np.testing.assert_array_equal(drawn(widgets.view.iterate_lines[1]), run.x)
    np.testing.assert_array_equal(widgets.runs[1].iterates.x, run.x)
    assert bytes(widgets.image.value) != bytes(before) and bytes(widgets.image.value).startswith(b"\x89PNG")


def test_the_same_settings_draw_what_the_desktop_window_draws(widgets):
    window = Explorer(LAND, ["gd(lr=0.1)", "adam(lr=0.1)", "adam(lr=0.05, lookahead=(5, 0.5))"], [1.0, 1.0], steps=15)
    widgets.sliders["lr"].value = 10.0**math.log10(0.3)  # what the window's log slider makes of 0.3
    window.sliders[0].set_val(math.log10(0.3))
    assert widgets.exploration.optimizers[0].lr == window.optimizers[0].lr
    widgets.start_sliders[1].value = -0.5
    window.on_click(type("Click", (), {"inaxes": window.ax, "xdata": 1.0, "ydata": -0.5, "button": 1}))
    np.testing.assert_array_equal(widgets.exploration.x0, [1.0, -0.5])
    for mine, theirs in zip(widgets.view.iterate_lines + widgets.view.flow_lines, window.iterate_lines + window.flow_lines):
        np.testing.assert_array_equal(drawn(mine), drawn(theirs))
    assert widgets.exploration.status(widgets.runs) == window.status.get_text()


def test_toggles_hide_optimizers_and_flows_and_a_hidden_flow_is_not_recomputed(widgets):
    widgets.visible[-1].value = False  # flows off
    assert not any(line.get_visible() for line in widgets.view.flow_lines)
    before = widgets.view.flow_lines[0].get_data()[0]
    widgets.sliders["lr"].value = 0.05
    assert widgets.view.flow_lines[0].get_data()[0] is before
    widgets.visible[0].value = False
    assert widgets.runs[0] is None and not widgets.view.iterate_lines[0].get_visible()


def test_a_refused_value_puts_the_knob_back_and_says_why():
    w = NotebookExplorer(LAND, ["nesterov(lr=0.01, momentum=0.8)"], steps=5)
    w.sliders["momentum"].value = 0.0  # nesterov needs momentum > 0
    assert w.sliders["momentum"].value == 0.8 and float(w.exploration.optimizers[0].momentum) == 0.8
    assert "nesterov requires momentum" in w.status.value


def test_explore_opens_the_widgets_in_a_kernel_and_the_window_elsewhere(monkeypatch):
    called = []
    monkeypatch.setattr(notebook.desktop, "explore", lambda *a, **k: called.append((a, k)) or "window")
    assert not notebook.in_kernel()
    assert sim.explore(LAND, ["gd"], steps=5) == "window" and len(called) == 1
    monkeypatch.setattr(notebook, "in_kernel", lambda: True)
    w = sim.explore(LAND, ["gd(lr=0.1)"], steps=5)
    assert isinstance(w, NotebookExplorer) and WIDGET_VIEW in w._repr_mimebundle_()
    assert sim.explore(LAND, ["gd"], steps=5, screenshot="x.png") == "window"  # a screenshot is the window's
    with pytest.raises(ValueError, match="the window's"):
        sim.explore(LAND, ["gd"], steps=5, screenshot="x.png", notebook=True)


def test_without_ipywidgets_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"ipywidgets: pip install ipywidgets ipykernel \(from simulate.s checkout: pip install \"\.\[notebook\]\"\)"):
        sim.explore(LAND, ["gd"], steps=5, notebook=True)


def test_a_1d_landscape_has_one_start_slider_and_draws_on_the_graph_of_f():
    spec = "quadratic(eigenvalues=(2,))"
    w = NotebookExplorer(spec, ["gd(lr=0.1)"], steps=10)
    assert [s.description for s in w.start_sliders] == ["x"]
    w.start_sliders[0].value = 1.5
    run = sim.iterate(spec, "gd(lr=0.1)", [1.5], 10)
    x, y = w.view.iterate_lines[0].get_data()
    np.testing.assert_array_equal(x, run.x[:, 0])
    np.testing.assert_array_equal(y, run.f)
    assert w.view.start_marker.get_data()[1][0] == pytest.approx(2 * 1.5**2 / 2)
