"""Parse ``name`` / ``name(key=value, ...)`` / ``name:key=value,...`` specs without ``eval``.

Used by the CLI for ``--optimizer "adam(lr=0.01, betas=(0.9, 0.99))"`` and
``--landscape "quadratic(condition=100)"``. The text is parsed with :mod:`ast` and only a
whitelist is read: a name, keyword arguments, and values that are numbers (with a sign), booleans,
or lists/tuples of those. Nothing is ever evaluated.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from ._checks import real, shown
from ._checks import text as printable

__all__ = ["parse_spec", "format_spec", "format_value", "SpecError"]

#: A bound on the text, not on what it means: parsing is linear in it and every value is checked, and
#: a saved record names its landscape by its label, which for a quadratic of a thousand dimensions
#: lists a thousand eigenvalues (the limit was 500, and a 30-D record could not be read back).
MAX_LENGTH = 100_000
#: Keys whose values are quoted text: a schedule inside an optimizer, a schedule's formula and strategy,
#: a game's loss and norm (simulate.games).
TEXT_KEYS = frozenset({"schedule", "f", "anneal_strategy", "loss", "norm", "adjust_lr_fn", "newton_schulz"})
_BOOLS = {"true": True, "false": False}
_FLOAT_MAX = float(np.finfo(np.float64).max)


class SpecError(ValueError):
    """A spec that is not of the accepted form; the message says what and where."""


def parse_spec(text: str) -> tuple[str, dict]:
    """``"adam(lr=0.01)"`` -> ``("adam", {"lr": 0.01})``; ``"adam:lr=0.01,eps=1e-6"`` is the same."""
    if not isinstance(text, str):
        raise SpecError(f"a spec is text such as 'adam(lr=0.01)', got {shown(text)}")
    text = text.strip()
    if not text:
        raise SpecError("empty name")
    try:
        printable(text, "the spec")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    if len(text) > MAX_LENGTH:
        raise SpecError(f"spec is longer than {MAX_LENGTH} characters")
    name_part, sep, rest = text.partition(":")
    if sep and "(" not in name_part:
        text = f"{name_part}({rest})"
    if re.fullmatch(r"[A-Za-z][\w-]*", text):
        return text, {}
    # Hyphens are allowed in registry names (six-hump-camel) but not in Python names.
    m = re.fullmatch(r"([A-Za-z][\w-]*)\s*\((.*)\)\s*", text, flags=re.S)
    if not m:
        raise SpecError(f"cannot read {text!r}: expected NAME or NAME(key=value, ...)")
    name, args = m.group(1), m.group(2)
    try:
        tree = ast.parse(f"f({args})", mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"cannot read the arguments of {name!r}: {exc.msg} (column {max(1, (exc.offset or 3) - 2)})") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "f"):
        # "adam(lr=1) + f(x=1)": the parentheses did not close at the end, an expression of calls
        raise SpecError(f"cannot read {text!r}: expected one NAME(key=value, ...), not an expression")
    if call.args:
        raise SpecError(f"{name}: arguments must be given as key=value")
    params = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise SpecError(f"{name}: '**' is not accepted")
        if kw.arg in params:
            raise SpecError(f"{name}: {kw.arg} is given twice")
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str) and kw.arg not in TEXT_KEYS:
            raise SpecError(f"{name}: {kw.arg}: only numbers, true/false and lists of numbers are accepted, "
                            f"got {ast.unparse(kw.value)!r}")
        if kw.arg in TEXT_KEYS and isinstance(kw.value, ast.Name) and kw.value.id.lower() not in (*_BOOLS, "inf", "nan"):
            params[kw.arg] = kw.value.id  # a bare word where text is expected: loss=wgan reads as loss='wgan'
            continue
        params[kw.arg] = _value(kw.value, f"{name}: {kw.arg}")
    return name, params


def _value(node: ast.AST, where: str):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:  # a literal beyond float64 (a 400-digit integer, 1e400); what receives it bounds it further
            real(node.value, magnitude=_FLOAT_MAX)
        except ValueError as exc:
            raise SpecError(f"{where}: {exc}") from None
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _value(node.operand, where)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Name) and node.id.lower() in _BOOLS:
        return _BOOLS[node.id.lower()]
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):  # Python's spelling, True/False
        return node.value
    if isinstance(node, ast.Name) and node.id.lower() in ("inf", "nan"):
        return float(node.id)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(e, where) for e in node.elts)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value  # quoted text (a schedule, a formula): kept as text, never evaluated
    raise SpecError(f"{where}: only numbers, true/false, quoted text and lists of numbers are accepted, "
                    f"got {ast.unparse(node)!r}")


def format_value(value) -> str:
    """A value as spec text that reads back exactly: shortest round-trip floats, tuples for arrays."""
    if isinstance(value, str):
        return repr(value)
    if hasattr(value, "spec"):  # a schedule inside an optimizer's spec
        return repr(value.spec)
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    arr = np.asarray(value)
    if arr.ndim:
        return format_value(tuple(arr))
    v = arr.item()
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, int) else repr(float(v)).removesuffix(".0")


def format_spec(name: str, params: dict) -> str:
    """``name(key=value, ...)``, or ``name`` alone without parameters; the inverse of :func:`parse_spec`."""
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={format_value(v)}' for k, v in params.items())})"
