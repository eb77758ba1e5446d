"""One invocation of a command: resolved options in; outputs, each with a run record, out.

``simulate plot ...`` and ``simulate.run("plot", options)`` do the same thing. Every file a run
writes gets a record beside it (``figure.png`` -> ``figure.run.toml``) holding the resolved
options, the versions and the command line; :func:`rerun` reads one and writes the outputs again,
bit for bit on the same machine. Options are validated once, here, whatever their source (command
line, config file, run record, Python), with errors located as ``file:line: key: message`` when
they come from a file. Outputs are checked before any work, existing files are only replaced with
``overwrite``, and every write is atomic.
"""

from __future__ import annotations

import enum
import os
import platform
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path

from .._names import lookup, suggest
from ..io.config import ConfigError, dumps, line_of, read_record
from ..io.files import (DATASET_FORMATS, check_output_path, save_dataset, save_figure, save_json, save_npz, save_text,
                        write_together)
from .options import COMMANDS, Command, figure_formats

__all__ = ["COMMANDS", "RerunWarning", "run", "rerun", "validate", "record_path", "relocate_outputs", "toml_value"]

RECORD_SUFFIX = ".run.toml"


class RerunWarning(UserWarning):
    """A rerun on versions other than the recorded ones: results may differ."""


def record_path(output) -> Path:
    """``figure.png`` -> ``figure.run.toml`` (one record serves outputs that share a stem)."""
    output = Path(output)
    return output.with_name(output.stem + RECORD_SUFFIX)


def validate(command: str, options: dict, *, source=None, text: str | None = None) -> dict:
    """Check every option's name, type and range (its :class:`~simulate.cli.options.Option`'s rule);
    return the resolved options (defaults filled).

    With ``source`` (a file) and its ``text``, errors are :class:`ConfigError` located as
    ``source:line: key: message``; otherwise ``ValueError("key: message")``.
    """
    cmd = lookup("command", command, COMMANDS)
    defaults = cmd.defaults
    rules = {o.name: o.rule for o in cmd.options if o.rule is not None}

    def fail(key, message):
        if source is not None:
            raise ConfigError(source, key, message, line_of(text or "", key))
        raise ValueError(f"{key}: {message}")

    resolved = {}
    for key, value in options.items():
        name = str(key).replace("-", "_")
        if name not in defaults:
            fail(key, suggest("option", key, defaults).replace(f"unknown option {key!r}. ", "unknown option. "))
        if name in resolved:
            fail(key, "is given twice (with - and with _)")
        value = toml_value(value)
        if value is not None and name in rules:
            try:
                value = rules[name](value)
            except ValueError as exc:
                fail(key, str(exc))
        resolved[name] = value
    return {**defaults, **resolved}


# -- what each command writes from its result, beside the figure (in the order of its option's beside files);
# ``records``: the text of each run record by its path, for outputs that carry their record inside
def _plot_files(result, options: dict, records: dict) -> dict[str, list[Callable]]:
    # the animation at the figure's resolution, size and type scale (slides: the GIF beside the figure)
    look = dict(dpi=int(options["dpi"]), size=options["size"], font_scale=options["font_scale"])
    return {"data": [result.experiment.save, lambda p: save_json(p, result.experiment.summary())],
            "animate": [lambda p: result.animate(p, **look)]}


def _order_files(study, options: dict, records: dict) -> dict[str, list[Callable]]:
    return {"data": [lambda p: save_npz(p, study.arrays()), lambda p: save_json(p, study.summary()),
                     lambda p: save_text(p, study.csv())]}


def _sweep_files(result, options: dict, records: dict) -> dict[str, list[Callable]]:
    if _is_dataset(options["data"]):  # the labelled dataset holds the table and its run record; the summary beside
        record = records.get(record_path(Path(str(options["data"]))))  # (the writers get temporary paths)
        return {"data": [lambda p: save_dataset(p, result.to_xarray(record=record)),
                         lambda p: save_json(p, result.report())]}
    return {"data": [lambda p: save_npz(p, result.arrays()), lambda p: save_json(p, result.report()),
                     lambda p: save_text(p, result.csv())]}


def _rate_map_files(maps, options: dict, records: dict) -> dict[str, list[Callable]]:
    from ..analysis.ratemap import rate_map_arrays, rate_map_csv

    return {"data": [lambda p: save_npz(p, rate_map_arrays(maps)), lambda p: save_text(p, rate_map_csv(maps))]}


def _tune_files(tuning, options: dict, records: dict) -> dict[str, list[Callable]]:
    return {"data": [lambda p: save_text(p, tuning.csv()), lambda p: save_json(p, tuning.report())]}


FILES = {"plot": _plot_files, "order": _order_files, "sweep": _sweep_files, "rate-map": _rate_map_files,
         "tune": _tune_files}


def _execute(cmd: Command, options: dict, description: str, said: list | None = None,
             records: dict | None = None) -> list[tuple[Path, Callable]]:
    """Call the command's library function, draw its figure; return ``(path, writer)`` for every planned file
    (and append the command's text about its result to ``said``). ``records``: the run records' texts
    by path, for the outputs that carry theirs (a sweep's .nc)."""
    from ..viz.style import restyle

    result = cmd.function()(**cmd.call(options))
    if said is not None and cmd.text is not None:
        said.append(cmd.text(result))
    figure = cmd.figure()(result, **cmd.call(options, to="figure"))
    restyle(figure, options["size"], options["font_scale"])
    dpi, exact = int(options["dpi"]), options["size"] is not None  # a size asked for is the file's size
    save = lambda p: save_figure(figure, p, dpi=dpi, description=description, tight=not exact)  # noqa: E731
    files = {"out": [save] * len(figure_paths(options)), **FILES[cmd.name](result, options, records or {})}
    writes = []
    for o in cmd.options:
        if o.output and options.get(o.name):
            paths = _paths_of(o, options)
            writes += zip(paths, files[o.name], strict=True)
    return writes


def figure_paths(options: dict) -> list[Path]:
    """The figure files of a run: ``out``, and with ``format`` one file per format named as ``out``
    with that extension (``out``'s own format first); ``out``'s format must be one of them."""
    out = Path(str(options["out"]))
    if not options.get("format"):
        return [out]
    formats = figure_formats(options["format"])
    own = out.suffix.lower().lstrip(".")
    if own not in formats:
        raise ValueError(f"format: {options['format']!r} does not include the format of --out {str(out)!r} ({own}): "
                         f"name --out with one of them, or add {own}")
    return [out, *(out.with_suffix("." + f) for f in formats if f != own)]


#: What is written beside a labelled dataset (``--data out.nc`` or ``out.zarr``): the .json summary
#: only, since the dataset holds the table a .csv would repeat.
DATASET_BESIDE = (".json",)


def _is_dataset(path) -> bool:
    return Path(str(path)).suffix.lower().lstrip(".") in DATASET_FORMATS


def _paths_of(option, options: dict) -> list[Path]:
    """The files one output option writes: the figure(s) of ``out``, or a path and its beside files."""
    if option.name == "out":
        return figure_paths(options)
    path = Path(str(options[option.name]))
    beside = [s for s in option.beside if s in DATASET_BESIDE] if _is_dataset(path) else option.beside
    return [path, *(path.with_suffix(s) for s in beside)]


def _plan(cmd: Command, options: dict) -> list[Path]:
    """Every file a run with these options writes, known before any work: as ``Command.plan``,
    with the figure in each of its formats."""
    return [p for o in cmd.options if o.output and options.get(o.name) for p in _paths_of(o, options)]


# -- running and recording ------------------------------------------------------------------------------
def toml_value(value):
    """An option value as TOML can hold it: paths and enums as strings, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [toml_value(v) for v in value]
    return value


def _versions() -> dict:
    import matplotlib
    import numpy as np
    import scipy

    from .._version import __version__

    return {"simulate": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def _record_text(command: str, options: dict, outputs: list[Path], record: Path, command_line: str,
                 argv: list[str], first_command_line: str) -> str:
    """A run record. Output paths are written relative to the record's folder, so the folder can
    move and ``rerun`` writes exactly where the originals were."""
    def rel(p):
        return os.path.relpath(Path(p).absolute(), record.parent.absolute())

    config = {k: (rel(v) if k in COMMANDS[command].outputs and v else v) for k, v in options.items()}
    facts = {"command": command, "argv": argv, "command_line": command_line,
             "first_command_line": first_command_line, "outputs": [rel(p) for p in outputs],
             "seed": int(options.get("seed") or 0)}
    header = (f"simulate run record. Reproduce the outputs with:  simulate rerun {record}\n"
              "[config] holds every option (output paths relative to this file); it is also a valid --config.")
    return dumps({"run": facts, "versions": _versions(), "config": config}, header)


def run(command: str, options: dict, *, overwrite: bool = False, argv: list[str] | None = None,
        first_command_line: str | None = None, said: list | None = None) -> list[Path]:
    """Run ``command`` with ``options`` (defaults fill the rest); write its outputs and run records.

    Every option is validated, then the options together (``Command.together``), then every output
    path (and record); nothing is computed or written when one fails or exists without
    ``overwrite``. What only the library can check (an axis a sweep's optimizers lack) is checked
    after the paths, when it runs. Returns the paths written, outputs first; ``said`` (a list)
    receives what the command says about its result on the terminal (``Command.text``).
    """
    given = dict(options)
    options = validate(command, given)
    cmd = COMMANDS[command]
    cmd.together(options)  # a refused combination says so even where an output already exists
    planned = _plan(cmd, options)
    records = list(dict.fromkeys(record_path(p) for p in planned))
    beside = {record_path(p): p for p in reversed(planned)}
    streamed = [Path(str(options[o.name])) for o in cmd.options if o.written and options.get(o.name)]
    for path in [*planned, *records, *streamed]:  # formats were checked with the options
        try:
            check_output_path(path, overwrite=overwrite)
        except ValueError as exc:
            message = str(exc)
            if path in beside and path not in planned:
                message = message.replace(" exists;", f" (the run record of {str(beside[path])!r}) exists;")
            raise ValueError(message if argv else message.replace("pass --overwrite", "pass overwrite=True")) from None
    command_line = shlex.join(argv) if argv else f"simulate.run({command!r}, {given!r})"
    # the records first (they list the planned outputs): an output may carry its own inside (a sweep's .nc)
    texts = {record: _record_text(command, options, planned, record, command_line, list(argv or []),
                                  first_command_line or command_line) for record in records}
    writes = _execute(cmd, options, command_line, said, texts)
    for record, text in texts.items():
        writes.append((record, lambda p, text=text: save_text(p, text)))
    # all or nothing: a failing writer leaves no outputs and no record; without overwrite, a file
    # another run wrote at one of these paths since the check above is kept and this run refused
    return write_together(writes, overwrite=overwrite)


def relocate_outputs(command: str, options: dict, folder, *, keep_names_only: bool = False, record=None,
                     text: str | None = None) -> dict:
    """Output paths of ``options`` put under ``folder``: a record's paths are relative to the
    record's folder; ``keep_names_only`` drops their folders (for ``rerun --out-dir``).

    A run record, perhaps someone else's, writes only inside its folder (or ``--out-dir``): a path
    that leaves ``folder`` (absolute, climbing with ``..``, or through a symlink) is refused, unless
    ``record`` is given and the record beside that output is one of the same run (a run that wrote
    ``figs/x.png`` and ``data/x.npz`` reruns from either record). With ``record`` (its path) and
    ``text`` the error is a located :class:`ConfigError`."""
    moved = dict(options)
    base = Path(folder).resolve()
    for key in COMMANDS[command].outputs:
        if moved.get(key):
            name = Path(str(moved[key])).name if keep_names_only else str(moved[key])
            path = Path(folder) / name
            inside = not Path(name).is_absolute() and path.parent.resolve().is_relative_to(base)
            if name in ("", ".", "..") or not (inside or (record is not None and _same_run(record, path))):
                message = (f"the output {str(moved[key])!r} is outside the record's folder; a run record writes "
                           "only there: rerun it with --out-dir FOLDER to write its outputs by name into FOLDER")
                if record is not None:
                    raise ConfigError(record, key, message, line_of(text or "", key))
                raise ValueError(f"{key}: {message}")
            moved[key] = str(path)
    return moved


def _run_of(record: Path) -> tuple:
    """What identifies the run a record describes: its command, its options (output paths
    resolved) and its resolved outputs."""
    command, config, facts, _ = read_record(record)
    where = {k: str((record.parent / str(v)).resolve()) if k in COMMANDS[command].outputs and v else v
             for k, v in config.items()}
    return command, repr(sorted(where.items())), sorted(str((record.parent / str(p)).resolve())
                                                        for p in facts["run"].get("outputs", []))


def _same_run(record, output: Path) -> bool:
    """Whether the record beside ``output`` describes the same run as ``record`` (same command,
    options and outputs): rerunning writes there what that run wrote."""
    beside = record_path(output)
    try:
        return beside.is_file() and _run_of(beside) == _run_of(Path(record))
    except (ConfigError, KeyError, TypeError, AttributeError):
        return False


def rerun(record, *, out_dir=None, overwrite: bool = False, argv: list[str] | None = None,
          said: list | None = None) -> list[Path]:
    """Run the command a record describes again, with the same options (``said`` as in :func:`run`).

    Outputs go where the record says (relative to its folder; ``overwrite=True`` is then needed)
    or into ``out_dir`` (created if missing) under the same names. A :class:`RerunWarning` is
    issued when the recorded versions differ from the installed ones.
    """
    record = Path(record)
    command, options, facts, text = read_record(record)
    options = validate(command, options, source=record, text=text)
    if out_dir is None:
        options = relocate_outputs(command, options, record.parent, record=record, text=text)
    else:
        options = relocate_outputs(command, options, out_dir, keep_names_only=True, record=record, text=text)
    recorded = facts.get("versions", {})
    changed = [f"{k} {recorded[k]} -> {v}" for k, v in _versions().items()
               if k != "platform" and k in recorded and recorded[k] != v]
    if changed:
        warnings.warn(f"{record} was made with other versions ({', '.join(changed)}); results may differ",
                      RerunWarning, stacklevel=2)
    first = facts.get("run", {}).get("first_command_line") or facts.get("run", {}).get("command_line")
    made = _make_folders(Path(out_dir)) if out_dir is not None else []
    try:
        return run(command, options, overwrite=overwrite, argv=argv, first_command_line=first or None, said=said)
    except BaseException:  # a refused or interrupted rerun leaves no empty --out-dir behind
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:  # not empty (something else is in it now), or gone
                break
        raise


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, outermost first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing
