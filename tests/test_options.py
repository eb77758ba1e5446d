"""The option schema (simulate.cli.options): one declaration per option, from which the typer
command, config validation, --dump-config, run records, rerun and the library call all come."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer._click as click
from typer.main import get_command

from simulate.cli.app import app, main
from simulate.cli.options import COMMANDS, Option, help_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from test_runs import SAMPLE_ARGS

HEAVY = ("numpy", "scipy", "matplotlib", "numba", "sympy", "torch")

# The CLI's own imports, with simulate/__init__ (the package's public API, lazy elsewhere) left out.
LEAN = """
import importlib.util, json, sys, types
package = types.ModuleType("simulate")
package.__path__ = list(importlib.util.find_spec("simulate").submodule_search_locations)
sys.modules["simulate"] = package
import simulate.cli.app
imported = [m for m in {heavy!r} if m in sys.modules]
code = simulate.cli.app.main({args!r})
print(json.dumps({{"imported": imported, "help": [m for m in {heavy!r} if m in sys.modules], "code": code}}))
"""


@pytest.mark.parametrize("args", [["--help"], []])
def test_the_cli_imports_no_numerics_to_start_or_to_list_its_commands(args):
    out = subprocess.run([sys.executable, "-c", LEAN.format(heavy=HEAVY, args=args)], capture_output=True, text=True,
                         check=True).stdout
    report = json.loads(out.splitlines()[-1])
    assert report == {"imported": [], "help": [], "code": 0}
    assert "plot" in out and "rate-map" in out  # the commands are listed all the same


def _built(name):
    group = get_command(app)
    return group.resolve_command(click.Context(group), [name])[1]


def _range(param):
    return getattr(param, "min", None), getattr(param, "max", None)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_line_option_is_its_schema_option(name):
    command, schema = _built(name), COMMANDS[name]
    params = {p.name: p for p in command.params}
    assert list(params) == ["config", *(o.name for o in schema.options), "dump_config", "overwrite"]
    assert command.help == schema.doc
    for option in schema.options:
        param = params[option.name]
        flags = option.flags or ("--" + option.name.replace("_", "-"),)
        assert (param.opts[0], *param.opts[1:]) == flags, option.name
        assert param.help == help_text(option) and param.metavar == option.metavar
        assert param.multiple == option.repeatable == (option.kind in (list[str], list[float])), option.name
        assert _range(param) == option.range(), option.name
        expected = None if param.multiple else Path(option.default) if option.kind is Path and option.default else option.default
        assert param.default == expected and type(param.default) is type(expected), option.name
        assert param.is_flag == (option.kind is bool)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_reaches_the_library_under_its_name_and_with_its_default(name):
    schema = COMMANDS[name]
    function = schema.function()
    parameters = dict(inspect.signature(function).parameters)
    if name == "order":  # order_study passes its keywords on to order
        from simulate.analysis.order import order

        parameters = {**parameters, **inspect.signature(order).parameters}
    figure_parameters = inspect.signature(schema.figure()).parameters
    for option in schema.options:
        argument = option.library_argument
        if argument is None:
            assert option.output or option.name in ("dpi", "size", "font_scale", "format", "warmup"), option.name  # files written (how), or folded in
            continue
        target = parameters if option.to == "call" else figure_parameters
        assert argument in target, (name, option.name, argument)
        library_default = target[argument].default
        if option.to == "call" and option.convert is None and library_default not in (inspect.Parameter.empty, None):
            assert library_default == option.default, (name, option.name)


def test_a_misspelled_key_in_any_command_s_config_suggests_the_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command, typo, meant in (("plot", "stpes", "steps"), ("order", "rugns", "rungs"), ("sweep", "vray", "vary"),
                                 ("rate-map", "lr_lamda", "lr_lambda")):
        Path("c.toml").write_text(f"# a comment\n{typo} = 3\n")
        assert main([command, "--config", "c.toml"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: c.toml:2: {typo}: unknown option. Did you mean '{meant}'?"), err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_every_option_declares_a_known_kind_and_checks_what_it_accepts():
    from pathlib import Path as P

    for schema in COMMANDS.values():
        assert len({o.name for o in schema.options}) == len(schema.options)
        for option in schema.options:
            assert isinstance(option, Option)
            assert option.kind in (int, float, str, bool, P, list[str], list[float]), option.name
            assert option.rule is not None, option.name
            if option.default is not None:  # every default passes its own rule
                assert option.rule(option.default) == option.default, (schema.name, option.name)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_dumped_config_runs_to_the_same_record_and_the_same_files(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(SAMPLE_ARGS[command]) == 0
    written = capsys.readouterr().out.split()
    record = [p for p in written if p.endswith(".run.toml")][0]
    first = {p: Path(p).read_bytes() for p in written if p.endswith((".npz", ".json", ".csv"))}
    assert main([*SAMPLE_ARGS[command], "--dump-config"]) == 0
    Path("dumped.toml").write_text(capsys.readouterr().out)
    before = tomllib.loads(Path(record).read_text())
    assert main([command, "--config", "dumped.toml", "--overwrite"]) == 0
    assert capsys.readouterr().out.split() == written
    after = tomllib.loads(Path(record).read_text())
    assert after["config"] == before["config"] == tomllib.loads(Path("dumped.toml").read_text())
    assert after["run"]["argv"] == ["simulate", command, "--config", "dumped.toml", "--overwrite"]
    assert {p: Path(p).read_bytes() for p in first} == first
    # and the record reruns itself: same configuration, same bytes
    Path("again").mkdir()
    assert main(["rerun", record, "--out-dir", "again"]) == 0
    capsys.readouterr()
    assert tomllib.loads((Path("again") / record).read_text())["config"] == before["config"]
    assert {p: (Path("again") / p).read_bytes() for p in first} == first
