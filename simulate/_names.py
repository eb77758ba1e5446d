"""Lookup by name with a helpful error: the one place that turns a typo into a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError, LookupError):
    """A name that is not in a registry; the message lists the valid names and the closest match."""


def _edits(a: str, b: str) -> int:
    """Edits from a to b (insert, delete, replace, or swap two neighbours: each one)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def suggest(kind: str, name: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    parts = [p.strip().lower() for p in str(name).split(",")]
    if len(parts) > 1 and all(p in valid for p in parts):  # "sign-gd,gd": several names in one
        each = " ".join(f"-o {p}" for p in parts)
        return (f"{name!r} names {len(parts)} {kind}s in one: give each on its own ({each} on the command "
                f"line, a list in Python).")
    # difflib's best three, the closest in edits first ('adma' is 'adam' with two letters swapped, not 'adamax')
    close = sorted(difflib.get_close_matches(name, valid, n=3, cutoff=0.5), key=lambda c: _edits(str(name), c))
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}."


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """``table[name]``, normalising case and ``_``/``-``; otherwise :class:`UnknownNameError`."""
    key = str(name).strip().lower().replace("_", "-")
    if key in table:
        return table[key]
    raise UnknownNameError(suggest(kind, str(name), table))
