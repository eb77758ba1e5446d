"""Lookup by name with a helpful error: the one place that turns a typo into a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError, LookupError):
    """A name that is not in a registry; the message lists the valid names and the closest match."""


def suggest(kind: str, name: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}."


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """``table[name]``, normalising case and ``_``/``-``; otherwise :class:`UnknownNameError`."""
    key = str(name).strip().lower().replace("_", "-")
    if key in table:
        return table[key]
    raise UnknownNameError(suggest(kind, str(name), table))
