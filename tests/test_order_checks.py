"""simulate order refuses ladders it cannot run, says when a slope is not asymptotic, and knows
the expected order of every model it draws (found by a new-user trial)."""

import warnings

import numpy as np
import pytest

import simulate as sim
from simulate.cli.app import main
from simulate.analysis.order import MAX_LADDER_STEPS, OrderWarning, order, order_study
from simulate.models import flow
from simulate.io.files import save_figure
from simulate.viz.figures import order_figure


def test_a_ladder_that_would_hang_is_refused_before_any_work():
    with pytest.raises(ValueError, match="steps in all") as err:
        order("himmelblau", "gd(lr=0.01)", rungs=40)
    assert f"{MAX_LADDER_STEPS:.0e}" in str(err.value)


def test_non_asymptotic_ladders_are_flagged():
    with pytest.warns(OrderWarning) as caught:
        r = order("himmelblau", "momentum", flow="modified")  # lr 1e-3: flow and iterates end apart, then both converge
    assert r.warnings and any("does not shrink" in w for w in r.warnings)
    assert all(str(w.message).startswith("momentum vs modified flow:") for w in caught)
    with pytest.warns(OrderWarning, match="within 1000× of the flow solver's tolerance"):
        order("himmelblau", "gd(lr=0.01)", flow="modified2", rtol=1e-6, atol=1e-8)


def test_a_clean_ladder_has_no_warning_and_reports_its_last_pair():
    with warnings.catch_warnings():
        warnings.simplefilter("error", OrderWarning)
        r = order("himmelblau", "gd(lr=0.01)", flow="modified")
    assert r.warnings == () and abs(r.last_pair_order - 2) < 0.05 and len(r.local_slopes) == 5
    assert r.table()[1]["slope_from_previous"] == pytest.approx(r.local_slopes[0])


def test_lrs_must_be_distinct_and_exclude_rungs_on_the_command_line(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError, match="distinct"):
        order("himmelblau", "gd", lrs=[0.01, 0.01])
    monkeypatch.chdir(tmp_path)
    assert main(["order", "--lrs", "0.01", "--lrs", "0.005", "--rungs", "3"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["order", "-f", "exact", "-f", "exact"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_flow_far_outside_its_regime_gives_up_on_its_budget():
    with pytest.warns(OrderWarning, match="fewer than two rungs"):
        r = order("himmelblau", "gd", flow="modified2", lrs=[0.02, 0.01], max_evaluations=200)
    assert all("more than 200 field evaluations" in s for s in r.status) and np.all(np.isnan(r.error))


def test_a_scaling_that_leaves_the_model_is_named():
    with pytest.raises(ValueError, match="moves β with lr and leaves that model"):
        order("himmelblau", "momentum(lr=0.01)", flow="modified", scaling="linear")


@pytest.mark.parametrize("spec, kind, expected", [
    ("heun", "limit", 2.0), ("rk4", "limit", 4.0), ("heun", "exact", 2.0),
    ("rmsprop", "exact", 0.5), ("adagrad", "exact", 0.5), ("adagrad(initial_accumulator_value=0.1)", "exact", 1.0),
    ("adam", "exact", 1.0), ("gd", "modified", 2.0),
])
def test_expected_orders(spec, kind, expected):
    assert flow(sim.optimizer(spec), kind).expected_order == expected


def test_expected_order_of_heun_on_its_limit_is_what_it_shows():
    r = order("himmelblau", "heun(lr=0.05)", flow="limit")
    assert abs(r.observed_order - r.expected_order) < 0.1


def test_weight_decay_lowers_the_stability_threshold_to_where_divergence_starts():
    opt = sim.optimizer("gd", lr=0.1, weight_decay=1.0)
    assert sim.stability_threshold(opt) == pytest.approx(19.0)
    # On f = λx²/2 with coupled decay the step multiplies x by 1 − lr(λ + wd): stable iff λ < 2/lr − wd.
    lam = np.array([18.5, 19.5])
    for l, stable in zip(lam, (True, False)):
        run = sim.iterate(f"quadratic(eigenvalues=({l},))", opt, [1.0], 400)
        assert run.diverged == (not stable)
    from simulate.analysis.sharpness import threshold_formula
    assert threshold_formula(opt) == "2/lr − wd"


def test_order_study_draws_and_saves_like_the_command(tmp_path):
    study = order_study("himmelblau", ["gd(lr=0.01)"], ["exact", "modified"], rungs=3)
    written = [save_figure(order_figure(study), tmp_path / "o.png"), *study.save(tmp_path / "o.npz")]
    assert [p.name for p in written] == ["o.png", "o.npz", "o.json", "o.csv"]
    assert "slope_from_previous" in (tmp_path / "o.csv").read_text().splitlines()[0]
    labels = [t.get_text() for t in order_figure(study).axes[0].get_legend().get_texts()]
    assert any("last pair" in t for t in labels)


def test_warnings_reach_the_figure_and_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["order", "-o", "momentum", "-f", "modified", "--data", "m.npz"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: momentum vs modified flow:")
    import json
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["ladders"][0]["warnings"]


def test_a_step_exact_for_its_flow_is_said_to_have_no_order():
    # sign descent from (0, 0) on Himmelblau: no component of ∇f changes sign before t = 1, so every
    # rung lands on its flow to rounding, and a slope fitted through rounding would be noise
    with pytest.warns(Warning, match="equal the flow to rounding"):
        r = sim.order("himmelblau", "sign-gd", start=[0.0, 0.0])
    assert np.all(r.error < 1e-12) and len(r.warnings) == 1
    longer = sim.order("himmelblau", "sign-gd", start=[0.0, 0.0], horizon=4.0)
    assert not any("rounding" in w for w in longer.warnings) and abs(longer.observed_order - 1) < 0.1


def test_rungs_left_out_of_the_fit_are_said_with_why():
    # a budget too small for the smaller rungs' flows: those rungs are NaN, and the fit over the rest says so
    r = sim.order("himmelblau", "gd(lr=0.01)", start=[0.0, 0.0], max_evaluations=100)
    left = [i for i, s in enumerate(r.status) if s != "ok"]
    assert left and np.all(np.isnan(r.error[left]))
    said = [w for w in r.warnings if "left out of the fit" in w]
    assert len(said) == 1 and said[0].startswith(f"{len(left)} of {len(r.status)} rungs left out of the fit (h = ")
    assert "--max-evaluations" in said[0]


def test_a_model_the_iterates_are_not_known_to_approach_says_so_first():
    r = sim.order("quadratic", "lbfgs(max_iter=2)", start=[1.0, -0.5], rungs=3)
    assert r.warnings[0].startswith("the newton flow is an idealization of L-BFGS, not a limit")
    gd = sim.order("quadratic", "gd(lr=0.1)", start=[1.0, -0.5], rungs=3)
    assert not any("idealization" in w for w in gd.warnings)


def test_an_error_floor_that_smaller_steps_do_not_lower_is_said():
    # Muon's torch-exact step rounds its Newton–Schulz iteration in bfloat16: a floor of ~5e-3 at every rung
    bf16 = sim.order("himmelblau", "muon", start=[0.0, 0.0], rungs=4, horizon=0.5)
    assert any(w.startswith("the error hardly changes with h") for w in bf16.warnings)
    assert np.nanmax(bf16.error) < 1.5 * np.nanmin(bf16.error)
    exact = sim.order("himmelblau", "muon(newton_schulz='float64')", start=[0.0, 0.0], rungs=4, horizon=0.5)
    assert not any("hardly changes" in w for w in exact.warnings) and abs(exact.observed_order - 1) < 0.15
