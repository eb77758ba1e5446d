"""Numbers from outside are checked once, at the edge (simulate._checks), and a landscape's
parameters travel as objects, never as its label's text parsed again (issue 19)."""

import contextlib
import dataclasses
import io

import numpy as np
import pytest

import simulate as sim
from simulate._checks import MAX_MAGNITUDE, count, real, reals, shown, time_step
from simulate.cli.app import main
from simulate.cli.options import COMMANDS
from simulate.landscapes import LANDSCAPES, landscape_parameters, with_parameters
from simulate.landscapes.games import GAMES
from simulate.optimizers import OPTIMIZERS
from simulate.spec import SpecError, parse_spec

BIG = 10**400
HOSTILE_TEXT = ("9" * 400, "-" + "9" * 400, "1e308", "nan", "inf", "-inf")


def run_cli(argv):
    """``simulate ARGV`` in-process: (exit code, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, err.getvalue()


def test_a_run_in_process_does_not_leave_its_command_line_to_the_next(tmp_path, monkeypatch):
    # main() keeps the command line for the run record; a later run in the same process (a notebook,
    # CliRunner) must record its own, not this one
    from typer.testing import CliRunner

    from simulate.cli.app import app

    monkeypatch.chdir(tmp_path)
    assert run_cli(["plot", "-l", "booth", "-o", "gd", "--steps", "3", "--out", "first.png"])[0] == 0
    assert CliRunner().invoke(app, ["plot", "-l", "booth", "-o", "gd", "--steps", "4", "--out", "second.png"]).exit_code == 0
    record = (tmp_path / "second.run.toml").read_text()
    assert "first.png" not in record and "second.png" in record


# -- the helper --------------------------------------------------------------------------------------
def test_real_refuses_what_float64_cannot_carry_and_names_the_value():
    assert real(-0.0) == 0.0 and str(real(-0.0)) == "0.0"
    assert real(3) == 3.0 and real(np.float32(0.5)) == 0.5
    with pytest.raises(ValueError, match=r"^lr must be a positive finite number of size at most 1e\+100 .*got 1000…\(401 digits\)$"):
        real(BIG, "lr", positive=True)
    with pytest.raises(ValueError, match=r"^x must be finite, got nan$"):
        real(float("nan"), "x")
    with pytest.raises(ValueError, match=r"^x must be finite, got -inf$"):
        real(float("-inf"), "x")
    with pytest.raises(ValueError, match=r"^x must be a finite number >= 0, got -1e-300$"):
        real(-1e-300, "x", nonnegative=True)
    with pytest.raises(ValueError, match="x must be a number, got True"):
        real(True, "x")
    assert real(MAX_MAGNITUDE) == MAX_MAGNITUDE
    with pytest.raises(ValueError, match="size at most"):
        real(np.nextafter(MAX_MAGNITUDE, np.inf))


def test_reals_checks_every_element_and_keeps_the_shape():
    np.testing.assert_array_equal(reals([[1, 2], [3, 4]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert reals(np.arange(3)).dtype == np.float64
    for bad, message in (([1, BIG], "401 digits"), ([1.0, np.inf], "finite, got inf"), ([1, [2]], "one shape"),
                         (["a"], "must be a number"), ([0.5, 1e200], "size at most")):
        with pytest.raises(ValueError, match=message):
            reals(bad, "v")


def test_count_states_its_bounds():
    assert count(7.0, "steps") == 7 and count(np.int64(3), "steps") == 3
    with pytest.raises(ValueError, match=r"^steps must be at most 1e\+12, got 1000…\(401 digits\)$"):
        count(BIG, "steps")
    with pytest.raises(ValueError, match=r"^steps must be >= 1, got 0$"):
        count(0, "steps", lo=1)
    with pytest.raises(ValueError, match=r"^paths must be at most 10, got 11$"):
        count(11, "paths", hi=10)
    for bad in (2.5, True, "3", float("inf")):
        with pytest.raises(ValueError, match="must be a whole number"):
            count(bad, "steps")


def test_time_step_says_when_it_underflows_or_overflows():
    np.testing.assert_array_equal(time_step([0.1, 1e-150]), [0.1, 1e-150])
    with pytest.raises(ValueError, match="underflows to 0"):
        time_step(np.float64(1e-200) ** 2)
    with pytest.raises(ValueError, match="overflows float64"):
        time_step(np.inf)


def test_shown_shortens_huge_values():
    assert shown(BIG) == "1000…(401 digits)" and shown(-BIG) == "-1000…(401 digits)" and shown(12) == "12"


# -- every edge calls it ------------------------------------------------------------------------------
def test_adagrad_whose_time_per_step_underflows_is_refused_when_built():
    with pytest.raises(ValueError, match="adagrad: the time per step underflows to 0"):
        sim.optimizer("adagrad", lr=1e-200)
    assert float(sim.optimizer("adagrad", lr=1e-150).time_per_step) == pytest.approx(1e-300)
    with pytest.raises(ValueError, match="underflows to 0"):  # the same check for an array of lrs (a sweep's grid)
        sim.optimizer("adagrad", lr=np.array([0.1, 1e-170]))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_hyperparameter_refuses_numbers_beyond_float64(name):
    opt = sim.optimizer(name)
    for field, h in opt.hyperparameters().items():
        digits = 200 if h.pair else 400  # a spec is at most 500 characters long
        for text in ("9" * digits, "1e308", "nan", "-" + "9" * digits):
            value = f"({text}, {text})" if h.pair else text
            with pytest.raises(ValueError, match=field) as info:
                sim.optimizer(f"{name}({field}={value})")
            assert "\n" not in str(info.value) and len(str(info.value)) < 300
        for value in (BIG, float("inf")):
            with pytest.raises(ValueError, match=f"{name}: .*{field}"):  # gd: "the name fixes momentum"
                sim.optimizer(name, **{field: (value, value) if h.pair else value})


def test_spec_numbers_beyond_the_edge_are_refused_by_the_parser():
    with pytest.raises(SpecError, match=r"adam: lr: must be finite, got inf"):
        parse_spec("adam(lr=1e400)")  # Python reads the literal as inf
    assert parse_spec("noise(scale=1e200)") == ("noise", {"scale": 1e200})  # Noise takes it: divergence as data
    with pytest.raises(SpecError, match=r"quadratic: dim: must be finite of size at most .*\(400 digits\)"):
        parse_spec(f"quadratic(dim={'9' * 400})")
    assert parse_spec("adam(lr=1e100, eps=1e-300)") == ("adam", {"lr": 1e100, "eps": 1e-300})


def _numeric_fields(factory):
    import functools

    cls = factory.func if isinstance(factory, functools.partial) else factory
    return [f for f in dataclasses.fields(cls) if f.init and isinstance(f.default, (int, float))
            and not isinstance(f.default, bool)]


@pytest.mark.parametrize("name", sorted({**LANDSCAPES, **GAMES}))
def test_every_landscape_parameter_refuses_numbers_beyond_float64(name):
    factory = {**LANDSCAPES, **GAMES}[name]
    fields = _numeric_fields(factory)
    for f in fields:
        for value in (BIG, -BIG, float("nan"), float("inf"), 1e300):
            with pytest.raises(ValueError, match=f.name) as info:
                sim.landscape(name, **{f.name: value})
            assert "\n" not in str(info.value)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_numeric_option_refuses_numbers_beyond_float64_in_one_line(command, tmp_path):
    """Every int and float option of every command, with numbers beyond the edge: exit 2, one line, no file."""
    numeric = [o for o in COMMANDS[command].options if o.kind in (int, float) or o.kind == list[float]]
    assert numeric
    for o in numeric:
        flag = o.flags[0] if o.flags else "--" + o.name.replace("_", "-")
        for text in HOSTILE_TEXT:
            code, err = run_cli([command, f"{flag}={text}", "--out", str(tmp_path / "f.png")])
            assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (flag, text, err)
            assert "Traceback" not in err and list(tmp_path.iterdir()) == [], (flag, text)


@pytest.mark.parametrize("argv, message", [
    (["order", "--horizon", "1e308"], "horizon: must be a positive finite number of size at most 1e+100"),
    (["order", "--ratio", "1e308"], "ratio: must be finite of size at most"),
    (["order", "-o", "adagrad(lr=1e-200)"], "adagrad: the time per step underflows to 0"),
    (["order", "-l", "rosenbrock(b=" + "9" * 400 + ")"], "(400 digits)"),
    (["plot", "-l", "quadratic(dim=" + "9" * 400 + ")"], "(400 digits)"),
    (["plot", "--start=" + "9" * 400 + ",1"], "start"),
    (["plot", "--lr-scale", "1e308,1"], "lr_scale: expected positive numbers of size at most 1e+100"),
    (["sweep", "--noise", "noise(cov=[[1e400, 0], [0, 1]])"], "noise"),
    (["sweep", "-o", "gd", "--vary", "lr=1e-200,0.01", "-o", "adagrad"], "underflows to 0"),
    (["rate-map", "-l", "quadratic(condition=1e308)"], "condition"),
])
def test_numbers_at_the_reported_sites_give_one_line(argv, message, tmp_path):
    code, err = run_cli([*argv, "--out", str(tmp_path / "f.png")])
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


# -- no round trip through spec text inside a run (a 30-D quadratic's label is thousands of characters) ------
def test_landscape_parameters_come_from_the_object_not_its_label():
    land = sim.landscape("quadratic", dim=40, condition=1e3)
    assert len(land.label) > 500  # longer than parse_spec once accepted: a run must not parse it again
    rebuilt = sim.landscape("quadratic", **land.spec_params)
    np.testing.assert_array_equal(rebuilt.A, land.A)
    assert landscape_parameters(land) == {"angle": 0.0}
    game = sim.landscape("dirac-gan", gamma=0.5)
    assert landscape_parameters(game)["gamma"] == 0.5
    assert with_parameters(game, gamma=0.25).label == sim.landscape("dirac-gan", gamma=0.25).label


def test_records_of_a_many_dimensional_run_read_back(tmp_path):
    # a saved record names its landscape by its label, which lists a 200-D quadratic's eigenvalues
    land = sim.landscape("quadratic", dim=200, condition=1e3)
    assert len(land.label) > 3000
    run = sim.iterate(land, "gd(lr=0.01)", None, 5)
    back = sim.Trajectory.load(run.save(tmp_path / "run.npz"))
    np.testing.assert_array_equal(back.x, run.x)
    np.testing.assert_array_equal(back.landscape.A, land.A)
    experiment = sim.run_experiment(land, ["gd(lr=0.01)"], None, 5)
    again = sim.Experiment.load(experiment.save(tmp_path / "experiment.npz"))
    np.testing.assert_array_equal(again.entries[0].flow.x, experiment.entries[0].flow.x)


def test_sweep_and_rate_map_on_a_30_dimensional_quadratic(tmp_path):
    code, err = run_cli(["sweep", "-l", "quadratic(dim=30)", "-o", "gd", "--vary", "lr=0.01,0.1", "--steps", "5",
                         "--out", str(tmp_path / "s.png")])
    assert code == 0 and (tmp_path / "s.png").exists(), err
    code, err = run_cli(["rate-map", "-o", "momentum", "-l", "quadratic(dim=30)", "--steps", "4", "--lr-lambda",
                         "0.1:1:3", "--vary", "momentum=0.1,0.5", "--out", str(tmp_path / "r.png")])
    assert code == 0 and (tmp_path / "r.png").exists(), err


# -- text from outside: printable, or refused in one line ----------------------------------------------
@pytest.mark.parametrize("spec", ["adam(lr=1) + f(x=1)", "adam(lr=1)(x=2)", "a(b=1) if c(d=1) else e(f=1)",
                                  "adam(lr=1) * adam(lr=2)"])
def test_a_spec_that_is_an_expression_of_calls_is_refused(spec, tmp_path):
    with pytest.raises(SpecError, match="expected one NAME"):
        parse_spec(spec)
    with pytest.raises(ValueError):
        sim.optimizer(spec)
    code, err = run_cli(["plot", "-o", spec, "--out", str(tmp_path / "f.png")])
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and list(tmp_path.iterdir()) == []


CONTROL = ["\x01", "\x1b[31m", "\x7f", "\x00", "\udcff", "\ufffe"]  # \udcff: the byte 0xff read from argv


@pytest.mark.parametrize("bad", CONTROL)
def test_control_characters_and_non_utf8_bytes_are_refused_in_text_options(bad, tmp_path):
    for argv in (["plot", "--caption", f"a{bad}b", "--out", str(tmp_path / "f.svg")],
                 ["plot", "--out", str(tmp_path / f"f{bad}.png")],
                 ["sweep", "-o", f"gd{bad}", "--out", str(tmp_path / "f.png")],
                 ["order", "-l", f"booth{bad}", "--out", str(tmp_path / "f.png")]):
        code, err = run_cli(argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert "control character" in err or "not UTF-8" in err or "null byte" in err, err
        assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="give printable text"):
        sim.landscape(f"booth{bad}")


def test_a_printable_caption_round_trips_through_the_record_and_rerun(tmp_path):
    import tomllib
    import xml.etree.ElementTree as ET

    caption = 'Ünïcode ∇f ≤ 1: "quotes", \\backslash, <tag> & $x$\ttab'
    out = tmp_path / "f.svg"
    code, err = run_cli(["plot", "-l", "booth", "-o", "gd", "--steps", "3", "--caption", caption, "--out", str(out)])
    assert code == 0, err
    record = tomllib.loads((tmp_path / "f.run.toml").read_text(encoding="utf-8"))
    assert record["config"]["caption"] == caption
    ET.parse(out)  # the SVG is well-formed XML
    out.unlink()
    code, err = run_cli(["rerun", str(tmp_path / "f.run.toml"), "--overwrite"])
    assert code == 0, err
    ET.parse(out)
    assert tomllib.loads((tmp_path / "f.run.toml").read_text(encoding="utf-8"))["config"]["caption"] == caption
