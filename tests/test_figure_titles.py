"""The loss title says how each kind of flow was solved, once: the smooth flows by the plot's method
and rtol, the discontinuous (Filippov) ones by their own, with the error their regularization makes."""

import re

import numpy as np

from simulate.analysis.experiment import run_experiment
from simulate.viz.figures import comparison_figure


def title(optimizers, steps=30):
    exp = run_experiment("rosenbrock", optimizers, [-1.0, 1.0], steps)
    return exp, comparison_figure(exp).axes[1].get_title()


def test_only_filippov_flows_name_one_solver_and_their_error():
    exp, text = title(["sign-gd(lr=0.01)"])
    text = " ".join(text.split("\n"))  # wrapped to the panel
    stats = exp.entries[0].flow.stats
    assert "flow by" not in text and "flows by" not in text  # no second rtol for flows that are not there
    assert f"{stats['method']} (rtol {stats['rtol']:g})" in text
    error = float(np.nanmax(stats["smoothing_error"]))
    assert (f"estimated error ≤ {error:.1e}" in text) if error > 0 else ("agree to rounding" in text)
    assert "≤ 0.0e+00" not in text


def test_smooth_and_filippov_flows_each_named():
    _, text = title(["gd(lr=0.001)", "sign-gd(lr=0.01)"])
    first, rest = text.split("\n", 1)
    assert first == "loss; flow by LSODA (rtol 1e-08)"
    rest = " ".join(rest.split("\n"))  # wrapped to the panel
    assert re.match(r"1 flow is Filippov: switches regularized to width δ ≤ [\d.e+-]+, \w+ \(rtol 1e-10\), ", rest)
    assert all(len(line) <= 75 for line in text.split("\n"))
