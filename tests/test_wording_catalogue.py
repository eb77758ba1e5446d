"""Wording found by new-user trials: each message says what went wrong and what to write instead."""

import pytest
from typer.testing import CliRunner

import simulate as sim
from simulate.analysis.sweep import parse_axis, sweep
from simulate.cli.app import app

runner = CliRunner()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- a setting that picks the kind of step is no sweep axis ----------------------------------------
def test_an_infinite_axis_value_says_how_to_compare_the_values():
    with pytest.raises(ValueError) as err:  # parsed alone: the optimizer is not known yet
        parse_axis("norm=1,2,inf")
    text = str(err.value)
    assert "'inf' is not a finite number" in text
    assert "-o 'OPTIMIZER(norm=1)' -o 'OPTIMIZER(norm=2)' -o 'OPTIMIZER(norm=inf)'" in text
    with pytest.raises(ValueError, match="'x' is not a number"):  # other words keep the short message
        parse_axis("lr=1,x")


def test_the_sweep_names_the_optimizer_whose_setting_an_infinite_axis_is():
    with pytest.raises(ValueError) as err:
        sweep("rosenbrock", ["gd", "steepest(lookahead=3)"], ["norm=1,2,inf", "lr=0.01:0.1:3"], steps=5)
    assert str(err.value) == ("axis norm: steepest's norm is not a sweep axis (it sets the structure of each step, the "
                              "same in every cell). To compare norm=1,2,inf, give one optimizer per value (each is "
                              "swept over the other axes): -o 'steepest(lookahead=3, norm=1)' "
                              "-o 'steepest(lookahead=3, norm=2)' -o 'steepest(lookahead=3, norm=inf)'")
    # the settings given with it are kept; a preset that fixes the setting is spelled by its class
    with pytest.raises(ValueError, match=r"-o 'steepest\(lr=0.1, norm=1\)' -o 'steepest\(lr=0.1, norm=2\)'$"):
        sweep("rosenbrock", ["sign-gd(lr=0.1)"], ["norm=1,2"], steps=5)
    with pytest.raises(ValueError) as err:  # a numeric hyperparameter: no optimizers to suggest
        sweep("rosenbrock", ["gd"], ["lr=1,inf"], steps=5)
    assert str(err.value).startswith("axis lr: 'inf' is not a finite number") and "-o" not in str(err.value)


def test_tune_says_the_same_of_a_setting_it_cannot_search(in_tmp):
    with pytest.raises(ValueError, match=r"steepest's norm is not searched .* -o 'steepest\(norm=1\)' "
                                         r"-o 'steepest\(norm=2\)' -o 'steepest\(norm=inf\)'"):
        sim.tune("rosenbrock", ["steepest"], budget=5, grid=["norm=1,2,inf"])
    result = runner.invoke(app, ["tune", "-o", "steepest", "--vary", "norm=1,2", "--budget", "5"])
    assert result.exit_code == 2 and "-o 'steepest(norm=1)' -o 'steepest(norm=2)'" in result.output


@pytest.mark.parametrize("typed, spelled", [("steepest", "steepest"), ("sign-gd", "steepest")])
def test_a_structural_field_as_axis_names_the_optimizers_to_give(typed, spelled):
    # sign-gd fixes norm: the optimizers to give are steepest's, which takes it
    with pytest.raises(ValueError) as err:
        sweep("rosenbrock", [typed], ["norm=1,2", "lr=0.01:0.1:3"], steps=5)
    text = str(err.value)
    assert f"{typed}'s norm is not a sweep axis" in text
    assert f"-o '{spelled}(norm=1)' -o '{spelled}(norm=2)'" in text


def test_the_suggested_sweep_runs_end_to_end(in_tmp):
    result = runner.invoke(app, ["sweep", "-o", "steepest", "--vary", "norm=1,2,inf", "--vary", "lr=0.01:0.1:3"])
    assert result.exit_code == 2
    assert "-o 'steepest(norm=1)' -o 'steepest(norm=2)' -o 'steepest(norm=inf)'" in result.output
    assert not list(in_tmp.iterdir())  # refused before any output
    args = ["sweep", "--vary", "lr=0.001:0.1:4:log", "--steps", "20", "--out", "s.png", "--data", "s.npz"]
    for norm in ("1", "2", "inf"):
        args += ["-o", f"steepest(norm={norm})"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (in_tmp / "s.png").exists()
    header, *rows = (in_tmp / "s.csv").read_text().splitlines()
    column = header.split(",").index("member")
    assert {r.split(",")[column] for r in rows} == {"coordinate-gd", "normalized-gd", "sign-gd"}


# -- a setting of every optimizer used as an optimizer around another ------------------------------
@pytest.mark.parametrize("text, spelled", [
    ("lookahead(adam)", "adam(lookahead=(5, 0.5))"),
    ("lookahead", "adam(lookahead=(5, 0.5))"),
    ("lookahead:k=3", "adam(lookahead=(5, 0.5))"),
    ("lookahead(adam(lr=0.01, betas=(0.9, 0.99)), k=10)", "adam(lr=0.01, betas=(0.9, 0.99), lookahead=(5, 0.5))"),
    ("clip_norm(gd)", "gd(clip_norm=1)"),
    ("schedule(sgd(momentum=0.9))", "sgd(momentum=0.9, schedule='cosine')"),
])
def test_a_setting_used_as_an_optimizer_points_to_its_spelling(text, spelled):
    with pytest.raises(ValueError) as err:
        sim.optimizer(text)
    assert "is not an optimizer: it is a setting that every optimizer takes" in str(err.value)
    assert f"e.g. {spelled}" in str(err.value)
    sim.optimizer(spelled)  # and what it points to is a valid spec


def test_the_command_line_says_the_spelling(in_tmp):
    result = runner.invoke(app, ["plot", "-o", "lookahead(adam)", "--steps", "5"])
    assert result.exit_code == 2
    assert "write it inside the optimizer's spec, e.g. adam(lookahead=(5, 0.5))" in result.output


def test_several_names_in_one_say_to_give_each_on_its_own():
    with pytest.raises(ValueError, match=r"'sign-gd,gd' names 2 optimizers in one: give each on its own "
                                         r"\(-o sign-gd -o gd on the command line, a list in Python\)"):
        sim.optimizer("sign-gd,gd")
