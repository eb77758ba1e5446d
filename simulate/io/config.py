"""Configuration files: TOML in (a command's options, or a run record), TOML out.

A config file holds a command's options by name (``steps = 200``, ``optimizer = ["gd", "adam"]``).
A run record (``figure.run.toml``) holds them under ``[config]`` beside ``[run]`` facts, so it can
be given to ``--config`` as well. Errors name the file, the line and the key.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ConfigError", "read_config", "read_record", "read_user_text", "line_of", "dumps"]


class ConfigError(ValueError):
    """A configuration problem, located: ``file:line: key: message``."""

    def __init__(self, path, key: str | None, message: str, line: int | None = None):
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


#: The largest config file or run record read (a record of every option is a few kB).
MAX_CONFIG_BYTES = 1 * 2**20
#: The deepest nesting of arrays and inline tables accepted (options nest two levels: a list of starts).
MAX_CONFIG_DEPTH = 16


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_user_text(path, what: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of a file the user names, checked before it is read: a regular file (a device, a
    FIFO or a folder is refused at once, without blocking), at most ``limit`` bytes, UTF-8 (a
    byte-order mark is accepted). Problems are :class:`ConfigError`, one line."""
    path = Path(path)
    try:
        kind = _file_kind(os.stat(path).st_mode)
        if kind is not None:
            raise ConfigError(path, None, f"the {what} is {kind}, not a file")
        # O_NONBLOCK: a FIFO put in its place since the check must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read the {what} ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise ConfigError(path, None, f"the {what} is {kind}, not a file")
        if info.st_size > limit:
            raise ConfigError(path, None, f"the {what} is {info.st_size} bytes; the limit is {limit} bytes")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise ConfigError(path, None, f"cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ConfigError(path, None, f"the {what} is over the limit of {limit} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(path, None, f"the {what} is not UTF-8 text") from None


# Strings and comments (skipped whole, so brackets inside them do not count), and the brackets.
_TOKENS = re.compile(r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]', re.S)


def _nesting(text: str) -> tuple[int, int]:
    """The deepest nesting of ``[`` and ``{`` in TOML ``text`` outside strings and comments, and its line."""
    depth = deepest = where = 0
    for token in _TOKENS.finditer(text):
        c = token.group()
        if c in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, token.start()
        elif c in "]}":
            depth = max(0, depth - 1)
    return deepest, text.count("\n", 0, where) + 1


def _load(path: Path, what: str) -> tuple[dict, str]:
    text = read_user_text(path, what)
    depth, line = _nesting(text)
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(path, None, f"values nest {depth} levels deep; at most {MAX_CONFIG_DEPTH} are read", line)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(path, None, f"not valid TOML: {exc}", int(line.group(1)) if line else None) from None


def _is_record(data: dict) -> bool:
    return isinstance(data.get("run"), dict) and isinstance(data.get("config"), dict) and "command" in data["run"]


def read_config(path, command: str) -> tuple[dict, str, bool]:
    """The options in ``path`` for ``command``, the file's text (to locate keys in errors), and
    whether the file is a run record.

    Accepts a flat file of options or a run record (its ``[config]`` table; its ``[run]``
    command must be ``command``).
    """
    path = Path(path)
    data, text = _load(path, "config file")
    is_record = _is_record(data)
    if is_record:
        recorded = data["run"].get("command")
        if recorded != command:
            raise ConfigError(path, "command", f"this run record is for '{recorded}', not '{command}'",
                              line_of(text, "command"))
        data = data["config"]
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(path, key, "tables are not options; write the options at the top level",
                              line_of(text, key, table=True) or line_of(text, key))
    return data, text, is_record


def read_record(path) -> tuple[str, dict, dict, str]:
    """A run record's command, its options, the whole record (``run``, ``versions``), and its text."""
    path = Path(path)
    data, text = _load(path, "run record")
    if not _is_record(data):
        raise ConfigError(path, None, "not a run record (it needs [run] with a command, and [config])")
    return data["run"]["command"], data["config"], data, text


def line_of(text: str, key: str, table: bool = False) -> int | None:
    """The line on which ``key = ...`` (or ``[key]``) is written, 1-based; None if not found."""
    pattern = rf"^\s*\[\s*{re.escape(key)}\s*\]" if table else rf'^\s*(?:"{re.escape(key)}"|{re.escape(key)})\s*='
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(pattern, line):
            return number
    return None


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def dumps(tables: dict, header: str = "") -> str:
    """TOML text: top-level ``key = value`` pairs first, then one ``[table]`` per dict value.

    ``None`` values are written as comments (TOML has no null): ``# key = (not set)``.
    """
    lines = [f"# {line}" for line in header.splitlines()]

    def pairs(mapping):
        for key, value in mapping.items():
            lines.append(f"# {_key(key)} = (not set)" if value is None else f"{_key(key)} = {_value(value)}")

    pairs({k: v for k, v in tables.items() if not isinstance(v, dict)})
    for name, table in tables.items():
        if isinstance(table, dict):
            lines.extend(["", f"[{_key(name)}]"])
            pairs(table)
    return "\n".join(lines).lstrip("\n") + "\n"
