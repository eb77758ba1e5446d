"""A seeded fuzz of the command line: generated command lines over every command's options with
hostile values (numbers beyond float64, control characters, bytes that are not UTF-8, expressions
of calls), run in-process. Each ends in exit 0, or exit 2 with one line and no file left behind."""

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import simulate.cli.app as app
from simulate.cli.options import COMMANDS

BIG = "9" * 400
NUMBERS = [BIG, "-" + BIG, "1e308", "-1e308", "1e-200", "1e-320", "nan", "inf", "-inf", "-0.0", "0", "-1", "2.5", "abc",
           "", "1\x00", "0x10", "1_000"]
TEXT = ["a\x01b", "\x1b[31mred", "x\x7f", "caf\udce9", "\ufffe", "ok é ∇ <&> $x$", "adam(lr=1) + f(x=1)",
        "gd(lr=" + BIG + ")", "adagrad(lr=1e-200)", "quadratic(dim=" + BIG + ")", "rosenbrock(b=1e308)", "x**2 + y**2",
        "noise(cov=[[1e400, 0], [0, 1]])", "lr=1e-200,0.01", "lr=1e308:1e309:3", "momentum=nan,0.5", "0.1:" + BIG + ":3",
        "1e308,1", "-1:1e400,0:1", "a(b=1)(c=2)", "x" * 600]
#: Small valid options first, so that what the hostile values leave valid runs in a fraction of a second.
FAST = {"plot": ["-l", "booth", "-o", "gd", "--steps", "2", "--dpi", "20"],
        "order": ["-l", "booth", "--rungs", "2", "--horizon", "0.05", "--dpi", "20", "--rtol", "1e-6", "--atol", "1e-8"],
        "sweep": ["-l", "booth", "-o", "gd", "--steps", "2", "--vary", "lr=0.01,0.02", "--dpi", "20"],
        "rate-map": ["--steps", "2", "--lr-lambda", "0.1:1:2", "--vary", "momentum=0.1,0.5", "--dpi", "20"],
        "tune": ["-l", "booth", "-o", "gd", "--budget", "2", "--vary", "lr=0.01,0.02", "--dpi", "20"]}
#: Values that are valid but make a run long (a million random starts, tolerances that exhaust a flow's
#: evaluation budget) are for the guards of time and memory, tested elsewhere.
SLOW = {"random_starts", "paths", "substeps", "rtol", "atol", "max_evaluations", "record_every", "steps", "rungs",
        "dpi", "animate", "data", "out", "three_d", "sharpness", "energy", "batch_size"}


def _flag(option) -> str:
    return option.flags[0] if option.flags else "--" + option.name.replace("_", "-")


@st.composite
def command_lines(draw, name):
    options = [o for o in COMMANDS[name].options if o.kind is not bool and o.name not in SLOW]
    argv = [name, *FAST[name]]
    for option in draw(st.lists(st.sampled_from(options), min_size=1, max_size=2, unique_by=lambda o: o.name)):
        numeric = option.kind in (int, float) or option.kind == list[float]
        value = draw(st.sampled_from(NUMBERS if numeric else TEXT + NUMBERS[:6]))
        argv.append(f"{_flag(option)}={value}")
    return argv


# one test per command (30 examples each, the 150 of one test before): the workers share them
@pytest.mark.parametrize("name", sorted(COMMANDS))
@seed(20261207)
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data(), caption=st.sampled_from([None, "a caption", "tab\tand é", "bad\x07bell", "bad\udcff"]))
def test_generated_command_lines_end_cleanly(tmp_path_factory, name, data, caption):
    out = tmp_path_factory.mktemp("fuzz")
    argv = data.draw(command_lines(name))
    argv = [*argv, *(["--caption", caption] if caption is not None else []), "--out", str(out / "f.png")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = app.main(argv)
    message = err.getvalue()
    assert code in (0, 2), (argv, code, message)
    assert "Traceback" not in message, (argv, message)
    if code == 2:
        assert message.startswith("error: ") and message.count("\n") == 1, (argv, message)
        assert list(out.iterdir()) == [], (argv, list(out.iterdir()))
    else:
        assert (out / "f.png").exists(), argv
