"""Results display themselves in IPython (simulate.viz.display, simulate.viz.inline): figures as PNG of a known size, records
as HTML tables, the plain text their one-line repr; registered by name at ``import simulate`` inside a
running IPython, without importing the figures."""

import io
from html import escape
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import simulate as sim
from simulate.viz import display, inline

LAND = "quadratic(eigenvalues=(1, 4))"


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return im.size


@pytest.fixture(scope="module")
def sweep():
    return sim.sweep(LAND, "gd", "lr=0.05:0.45:5", steps=20)


@pytest.fixture(scope="module")
def ladder():
    return sim.order(LAND, "gd(lr=0.1)", [1.0, 1.0], horizon=1.0, rungs=4)


def test_a_figure_is_png_bytes_of_its_own_size_at_the_display_dpi():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    fig.subplots().plot([0, 1], [0, 1])
    assert _size(inline.figure_png(fig)) == (4 * display.DPI, 3 * display.DPI)
    assert _size(inline.figure_png(fig, dpi=50)) == (200, 150)


def test_a_pyplot_figure_is_closed_after_it_is_drawn():
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 2))
    inline.figure_png(fig)
    assert fig.number not in plt.get_fignums()


def test_a_sweep_is_its_heat_map_and_its_summary_line(sweep):
    from simulate.viz.figures import sweep_figure

    bundle = display.mimebundle(sweep)
    expected = sweep_figure(sweep).get_size_inches() * display.DPI
    assert _size(bundle["image/png"]) == tuple(int(round(v)) for v in expected)
    html = bundle["text/html"]
    assert sweep.summary().split("\n")[0] in html
    assert html.count("<img src=\"data:image/png;base64,") == 1
    import base64

    inline = html.split("base64,")[1].split('"')[0]
    assert base64.b64decode(inline) == bundle["image/png"]  # the same drawing, once
    # under it, per member, how its cells ended (diverged, at a minimum)
    for line in sweep.summary().split("\n")[1:]:
        assert html.index(line.strip().replace("<", "&lt;")) > html.index("base64,")


def test_an_order_result_is_its_figure_and_its_rungs(ladder):
    bundle = display.mimebundle(ladder)
    assert _size(bundle["image/png"])[0] > 300
    html = bundle["text/html"]
    assert html.count("<tr>") == 1 + len(ladder.lr)  # the header and one row per rung
    for err in ladder.error:
        assert f"{err:.4g}" in html
    study = sim.order_study(LAND, ["gd(lr=0.1)"], start=[1.0, 1.0], horizon=1.0, rungs=3)
    html = display.mimebundle(study)["text/html"]
    assert f"{study.results[0].observed_order:.4g}" in html and "expected order" in html


def test_records_are_html_tables_and_no_figure():
    run = sim.iterate(LAND, "gd(lr=0.1)", [[1.0, 1.0], [2.0, -1.0], [0.5, 0.5]], steps=10)
    bundle = display.mimebundle(run)
    assert list(bundle) == ["text/html"]
    html = bundle["text/html"]
    assert html.count("<tr>") == 4 and escape(str(run.message[1])) in html
    assert f"{run.f[-1, 2]:.4g}" in html
    flow = sim.integrate(LAND, "gd(lr=0.1)", [1.0, 1.0], t=run.t)
    single = sim.iterate(LAND, "gd(lr=0.1)", [1.0, 1.0], steps=10)
    comparison = sim.compare(single, flow)
    assert f"{float(comparison.max):.4g}" in display.mimebundle(comparison)["text/html"]
    many = sim.iterate(LAND, "gd(lr=0.1)", np.zeros((40, 2)) + 1.0, steps=2)
    assert f"… and {40 - display.MAX_ROWS} more" in display.mimebundle(many)["text/html"]


def test_experiment_ensemble_and_tuning_summaries():
    result = sim.plot(LAND, ["gd(lr=0.1)", "momentum(lr=0.1, momentum=0.5)"], [1.0, 1.0], steps=10)
    html = display.mimebundle(result.experiment)["text/html"]
    assert html.count("<tr>") == 3 and "gd(lr=0.1)" in html and "largest distance to the flow" in html
    ens = sim.ensemble(LAND, ["gd(lr=0.1)"], [1.0, 1.0], steps=10, paths=4, noise="gaussian(scale=0.1)", seed=1)
    html = display.mimebundle(ens)["text/html"]
    assert html.count("<tr>") == 2 and "gd(lr=0.1)" in html
    tuning = sim.tune(LAND, ["gd"], budget=20, start=[1.0, 1.0])
    html = display.mimebundle(tuning)["text/html"]
    assert html.count("<tr>") == 2 and tuning.results[0].optimizer.spec in html


def test_a_plot_result_shows_its_figure_and_keeps_its_one_line_repr():
    result = sim.plot(LAND, ["gd(lr=0.1)"], [1.0, 1.0], steps=5)
    bundle = result._repr_mimebundle_()
    w, h = result.figure.get_size_inches() * display.DPI
    assert _size(bundle["image/png"]) == (int(round(w)), int(round(h)))
    assert bundle["image/png"] == result._repr_png_()  # a figure kept: drawn again, the same bytes
    assert repr(result) in result._repr_html_() and "\n" not in repr(result)
    assert result.figure.axes  # not closed nor emptied by being displayed


FRESH_SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
import simulate
new = sorted(set(sys.modules) - before)
run = simulate.iterate("quadratic(eigenvalues=(1, 4))", "gd(lr=0.1)", [1.0, 1.0], steps=5)
data, _ = shell.display_formatter.format(run)
sweep = simulate.sweep("quadratic(eigenvalues=(1, 4))", "gd", "lr=0.1,0.2", steps=5)
sweep_data, _ = shell.display_formatter.format(sweep)
print(json.dumps({"new": new, "run": sorted(data), "plain": data["text/plain"], "repr": repr(run),
                  "sweep": sorted(sweep_data), "sweep_plain": sweep_data["text/plain"], "sweep_repr": repr(sweep)}))
"""


def test_import_in_a_running_ipython_registers_the_displays_cheaply():
    out = subprocess.run([sys.executable, "-c", FRESH_SHELL], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # registered by name: nothing but simulate itself was imported for it (no figures, no matplotlib)
    assert got["new"] == ["simulate", "simulate._version"]
    assert got["run"] == ["text/html", "text/plain"] and got["plain"] == got["repr"]
    assert got["sweep"] == ["image/png", "text/html", "text/plain"] and got["sweep_plain"] == got["sweep_repr"]


def test_load_ext_registers_in_an_ipython_started_after_import():
    out = subprocess.run([sys.executable, "-c", """
import json, simulate
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
run = simulate.iterate("booth", "gd(lr=0.1)", steps=3)
before = sorted(shell.display_formatter.format(run)[0])
shell.run_line_magic("load_ext", "simulate")
print(json.dumps([before, sorted(shell.display_formatter.format(run)[0])]))
"""], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["text/plain"], ["text/html", "text/plain"]]


def test_ipython_in_a_terminal_draws_nothing_it_cannot_show():
    out = subprocess.run([sys.executable, "-c", """
import json, sys
from IPython.terminal.interactiveshell import TerminalInteractiveShell
shell = TerminalInteractiveShell.instance()
import simulate
sweep = simulate.sweep("quadratic(eigenvalues=(1, 4))", "gd", "lr=0.1,0.2", steps=5)
print(json.dumps([sorted(shell.display_formatter.format(sweep)[0]), "matplotlib" in sys.modules]))
"""], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["text/plain"], False]
