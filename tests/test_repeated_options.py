"""An option that takes one value, given twice, is refused before any work (issue 19: `--out a.png
--out a.svg` silently kept the last one; one figure in several formats is `--format png,svg`,
tests/test_slides.py)."""

import pytest

from simulate.cli.app import main
from simulate.cli.options import COMMANDS


def _single_valued(command):
    """(flag, a valid value) of every option of ``command`` that takes one value and has a default."""
    for option in COMMANDS[command].options:
        default = COMMANDS[command].defaults.get(option.name)
        if option.repeatable or isinstance(default, bool) or default is None:
            continue
        yield (option.flags[0] if option.flags else "--" + option.name.replace("_", "-")), str(default)


CASES = [(c, flag, value) for c in sorted(COMMANDS) for flag, value in _single_valued(c)]


def test_every_command_has_single_valued_options_to_check():
    assert {c for c, _, _ in CASES} == set(COMMANDS) and len(CASES) > 40


@pytest.mark.parametrize("command, flag, value", CASES, ids=[f"{c}{f}" for c, f, _ in CASES])
def test_a_single_valued_option_given_twice_is_refused_and_nothing_is_written(command, flag, value, tmp_path,
                                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([command, flag, value, f"{flag}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {flag} takes one value and was given 2" in err
    assert list(tmp_path.iterdir()) == []


def test_a_repeated_out_points_to_format_and_repeatable_options_still_repeat(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--out", "a.png", "--out", "a.svg"]) == 2
    assert "give --out once and --format png,svg" in capsys.readouterr().err
    assert main(["plot", "-o", "gd", "-o", "adam", "--steps", "5", "--out", "a.png"]) == 0
