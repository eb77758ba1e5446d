"""What a plot says on the terminal beside its figure, one line each: iterates or flows that
diverged, and flows the iterates are not expected to follow (the model's own caveat, or a flow that
ended at a maximum or saddle)."""

import numpy as np
import pytest

from simulate.analysis.experiment import run_experiment
from simulate.analysis.remarks import Diverged, ModelNote
from simulate.cli.app import main


def test_diverged_iterates_are_said_with_how_many_and_when():
    exp = run_experiment("himmelblau", ["gd(lr=1)", "gd(lr=0.01)"], [[0.0, 0.0], [1.0, 1.0]], 10)
    at = exp.entries[0].iterates.diverged_at
    assert np.all(at >= 0)
    assert exp.divergences() == [f"gd(lr=1): its iterates diverged from 2 of 2 starts, first at step {int(at.min())}; "
                                 f"drawn up to their last finite point (×) (a smaller lr may keep them bounded)"]
    with pytest.warns(Diverged):
        exp.warn_flow_failures()


def test_a_newton_flow_at_a_maximum_is_said():
    # from (0, 0) on Himmelblau, ∇²f < 0: the Newton flow climbs to the local maximum, L-BFGS descends
    exp = run_experiment("himmelblau", ["lbfgs"], [0.0, 0.0], 10)
    notes = exp.model_notes()
    assert any("not positive definite" in line for line in notes)
    ended = [line for line in notes if "flow ended at a maximum of f" in line]
    assert len(ended) == 1 and "f = 181.6" in ended[0]
    assert exp.entries[0].iterates.f[-1] < 1e-6  # the iterates went to a minimum
    gd = run_experiment("himmelblau", ["gd(lr=0.01)"], [0.0, 0.0], 50)
    assert gd.model_notes() == []


def test_adadeltas_lift_is_said_to_run_ahead_of_its_iterates():
    exp = run_experiment("himmelblau", ["adadelta"], [0.0, 0.0], 20)
    notes = exp.model_notes()
    assert len(notes) == 1 and "clock h = 1 is long against" in notes[0]
    g2 = 22.0 ** 2  # max ∇f(0, 0)² = 22²; (1 − ρ)g²/ε at ρ = 0.9, ε = 1e-6
    assert f"is {0.1 * g2 / 1e-6:.2g} here" in notes[0]
    with pytest.warns(ModelNote):
        exp.warn_flow_failures()


def test_the_command_says_them(capsys, tmp_path):
    assert main(["plot", "-o", "gd(lr=1)", "-o", "lbfgs", "--steps", "10", "--out", str(tmp_path / "d.png")]) == 0
    err = capsys.readouterr().err
    assert err.count("its iterates diverged") == 1 and err.count("flow ended at a maximum") == 1


def test_a_flow_through_curvature_past_the_stability_threshold_is_said():
    # Heun at lr = 0.01 on Rosenbrock: its flow runs down the valley where λmax ≈ 2000 > 2/lr = 200
    exp = run_experiment("rosenbrock", ["heun(lr=0.01)", "heun(lr=1e-4)"], [-1.5, 2.0], 30)
    notes = exp.model_notes()
    assert len(notes) == 1 and notes[0].startswith("heun(lr=0.01): along its flow λmax(∇²f) reaches ")
    from simulate.analysis.sharpness import sharpness_along

    top = float(np.nanmax(sharpness_along(exp.entries[0].flow_at_steps)))
    assert top > 200 and f"reaches {top:.3g}, past its stability threshold 2/lr = 200" in notes[0]


def test_a_said_warning_points_at_the_line_that_called_the_library():
    """In a notebook or a script, the warning's location is the user's line (it was pytest's, or
    IPython's, for sweep's divergence line: a fixed stack level overshot)."""
    import warnings

    import simulate as sim
    from simulate._signature import Said

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.sweep("quadratic", "gd", "lr=0.1:3:5", steps=50)
        sim.plot("quadratic", ["gd(lr=3)"], steps=10)
    said = [w for w in caught if issubclass(w.category, Said)]
    assert {w.category.__name__ for w in said} >= {"Diverged", "ModelNote"}
    assert all(w.filename == __file__ for w in said), [(w.category.__name__, w.filename) for w in said]
