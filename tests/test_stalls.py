"""A run that barely moves (a torch default lr far too small for the landscape) is said in one line,
with how far it went; runs that move, diverge or arrive are not."""

import numpy as np
import pytest

from simulate.analysis.experiment import run_experiment
from simulate.analysis.remarks import STALL, Stalled
from simulate.cli.app import main


def test_a_tiny_lr_is_said_with_how_far_it_went():
    exp = run_experiment("himmelblau", ["lion(lr=1e-4)", "lion(lr=0.05)", "gd(lr=0.01)"], [0.0, 0.0], 50, flow="limit")
    lines = exp.stalls()
    assert len(lines) == 1 and lines[0].startswith("lion(lr=0.0001) barely moved: in 50 steps")
    moved = np.linalg.norm(exp.entries[0].iterates.x[-1] - exp.entries[0].iterates.x[0])
    np.testing.assert_allclose(moved, 50 * 1e-4 * np.sqrt(2), rtol=1e-12)  # Lion's sign step, exactly
    assert f"went {moved:.2g}" in lines[0]
    with pytest.warns(Stalled, match="barely moved"):
        exp.warn_flow_failures()


def test_the_threshold_is_the_fraction_of_the_box_and_of_the_gap():
    # 5% of Himmelblau's box diagonal (10·√2) is 0.707: Lion moves lr·√2 per step
    exp = run_experiment("himmelblau", ["lion(lr=0.001)", "lion(lr=0.02)"], [0.0, 0.0], 50, flow="limit")
    went = [float(np.linalg.norm(e.iterates.x[-1] - e.iterates.x[0])) for e in exp.entries]
    assert went[0] < STALL * 10 * np.sqrt(2) < went[1]
    assert [line.split(" ")[0] for line in exp.stalls()] == ["lion(lr=0.001)"]


def test_a_diverged_run_is_no_stall():
    exp = run_experiment("himmelblau", ["gd(lr=0.5)"], [0.0, 0.0], 20)
    assert exp.entries[0].iterates.diverged.all() and exp.stalls() == []


def test_the_command_says_it(capsys, tmp_path):
    assert main(["plot", "-o", "lion", "--steps", "20", "--out", str(tmp_path / "l.png")]) == 0
    assert capsys.readouterr().err.count("barely moved") == 1
