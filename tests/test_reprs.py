"""Result objects say what they hold in one short line, whatever the size of the run (issue 19:
"an order study prints kilobytes today")."""

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.ratemap import rate_map

LONG = 300


def _results():
    land = sim.landscape("quadratic")
    many = sim.optimizer("momentum", lr=np.geomspace(1e-3, 1e-1, 50))
    run = sim.iterate(land, many, steps=2000)
    flow = sim.integrate(land, "gd(lr=0.01)", t=np.linspace(0, 5, 3000))
    return {
        "Trajectory": (run, ["iterates", "momentum", "quadratic", "2001 samples", "batch (50,)"]),
        "flow": (flow, ["exact flow", "gd(lr=0.01)"]),
        "Comparison": (sim.compare(flow, flow), ["3000 samples", "largest distance 0"]),
        "Experiment": (sim.run_experiment(land, ["gd(lr=0.01)", "adam(lr=0.1)"], steps=500),
                       ["gd(lr=0.01)", "adam(lr=0.1)", "500 steps"]),
        "PlotResult": (sim.plot(land, ["gd(lr=0.01)"], steps=300), ["PlotResult(Experiment(", "panels"]),
        "OrderResult": (sim.order(land, "gd(lr=0.01)", rungs=6), ["observed order 1", "expected 1", "6 rungs"]),
        "OrderStudy": (sim.order_study(land, ["gd(lr=0.01)"], ["exact", "modified"], rungs=4),
                       ["2 ladders", "gd vs modified flow 2"]),
        "Sweep": (sim.sweep(land, "gd", ["lr=0.001:0.1:30", "x=-1:1:30"], steps=200, track=()), ["Sweep(", "lr"]),
        "RateMap": (rate_map("momentum", "lr_lambda=0.01:3:40", "momentum=0:0.9:40"), ["momentum", "(40)"]),
        "Ensemble": (sim.ensemble(land, ["gd(lr=0.1)"], steps=100, paths=200, noise=0.1),
                     ["200 paths × 100 steps", "noise(scale=0.1)"]),
    }


@pytest.fixture(scope="module")
def results():
    return _results()


@pytest.mark.parametrize("kind", ["Trajectory", "flow", "Comparison", "Experiment", "PlotResult", "OrderResult",
                                  "OrderStudy", "Sweep", "RateMap", "Ensemble"])
def test_a_result_says_what_it_is_in_one_short_line(results, kind):
    result, says = results[kind]
    text = repr(result)
    assert "\n" not in text and len(text) < LONG + 200 * (kind == "PlotResult"), text
    for words in says:
        assert words in text, (words, text)



def test_a_many_dimensional_landscape_is_shortened_in_reprs_and_titles(tmp_path):
    # a 50-D quadratic's label lists its 50 eigenvalues: reprs and figure titles say quadratic(…)
    from simulate.cli.app import main

    land = "quadratic(dim=50)"
    for result in (sim.iterate(land, "gd", None, 3), sim.sweep(land, "gd", "lr=0.01,0.02", steps=3, progress=False),
                   sim.order(land, "gd", rungs=3)):
        assert "quadratic(…)" in repr(result) and len(repr(result)) < 200
    assert main(["order", "-l", land, "--rungs", "3", "--out", str(tmp_path / "o.png")]) == 0
    from matplotlib.image import imread

    assert imread(tmp_path / "o.png").shape[1] < 2000  # the title once made it 11,035 pixels wide
