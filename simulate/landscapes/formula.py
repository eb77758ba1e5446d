"""Landscapes from a formula, read safely and differentiated exactly.

``parse_formula("(1-x)**2 + 100*(y-x**2)**2")`` reads the text with Python's :mod:`ast` and
accepts only a whitelist: numbers, the variables (``x``, ``y``, ``z``, or ``x1`` … ``xn``), the
constants ``pi`` and ``e``, ``+ − * / **``, unary minus and plus, and one-argument calls of the
functions in :data:`FUNCTIONS`. The sympy expression is built from those nodes directly: user text
never reaches ``eval``, ``sympify`` or ``parse_expr``. Limits on length, node count, nesting depth
and constant exponents each have their own error, pointing at the offending part.

:class:`FormulaLandscape` differentiates the expression symbolically (gradient and Hessian) and
evaluates all of them by walking the sympy trees into numpy calls over points ``(..., d)``: no
code is generated or executed for that. For the compiled engine only, a function of scalars is
written from the same trees, node by node (:func:`_scalar_function`): its text is made of the
package's own identifiers, numbers and numpy function names, never of the formula's text.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import re
from dataclasses import dataclass

import numpy as np

from .base import Landscape, _set, _settle_start, differenced_hessian, plot_box, search_minima
from ..spec import format_spec

__all__ = ["FormulaError", "parse_formula", "formula_function", "FormulaLandscape", "formula_landscape", "is_variable", "FUNCTIONS", "MAX_LENGTH", "MAX_NODES", "MAX_DEPTH",
           "MAX_EXPONENT", "MAX_DIM"]

MAX_LENGTH = 2000   # characters
MAX_NODES = 400     # syntax-tree nodes
MAX_DEPTH = 40      # nesting of operations and calls
MAX_EXPONENT = 100  # |constant exponent|: x**1e9 would expand into a huge derivative
MAX_DIM = 20        # x1 … x20
MAX_MAGNITUDE = 300  # |log10| of a constant: beyond, float64 has no room (and exact integers get huge)
HESSIAN_BUDGET = 20_000  # operations: beyond, the Hessian is differenced from the exact gradient

#: Function names a formula may call, each with one argument.
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "abs")
CONSTANTS = ("pi", "e")
_PLANE = ("x", "y", "z")


class FormulaError(ValueError):
    """A formula that is refused; the message says why and where."""


class _Unsupported(FormulaError):
    """A derivative with a function numpy has no counterpart for here (re, im, Derivative of abs)."""


def _where(text: str, node: ast.AST) -> str:
    """``at column N: 'the offending part'``."""
    col = getattr(node, "col_offset", None)
    if col is None:
        return ""
    end = getattr(node, "end_col_offset", None) or col + 1
    part = text[col:end]
    return f" at column {col + 1}: {part if len(part) <= 40 else part[:37] + '...'!r}"


def parse_formula(text: str, variables: tuple[str, ...] | None = None):
    """``(expression, variables)``: the sympy expression of ``text`` and the names of its coordinates
    in order (``("x", "y")`` or ``("x1", …, "xn")``; exactly ``variables`` when those are given,
    e.g. ``("k",)`` for a schedule's factor). Raises :class:`FormulaError`."""
    import sympy

    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise FormulaError("empty formula")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula: {exc.msg} at column {exc.offset}") from None
    except (RecursionError, MemoryError):  # the parser's own limits on nesting
        raise FormulaError(f"formula is nested more than {MAX_DEPTH} deep") from None
    text = text.strip()
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise FormulaError(f"formula has {nodes} syntax nodes; the limit is {MAX_NODES}")
    names: set[str] = set()
    functions = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
                 "sqrt": sympy.sqrt, "tanh": sympy.tanh, "abs": sympy.Abs}
    constants = {"pi": sympy.pi, "e": sympy.E}

    def build(node: ast.AST, depth: int):
        if depth > MAX_DEPTH:
            raise FormulaError(f"formula is nested more than {MAX_DEPTH} deep{_where(text, node)}")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FormulaError(f"only numbers are allowed as constants{_where(text, node)}")
            if isinstance(value, float) and not np.isfinite(value):
                raise FormulaError(f"number out of range{_where(text, node)}")
            if isinstance(value, int) and value and math.log10(abs(value)) > MAX_MAGNITUDE:
                raise FormulaError(f"number out of range (more than {MAX_MAGNITUDE} digits){_where(text, node)}")
            return sympy.Integer(value) if isinstance(value, int) else sympy.Float(repr(value), 17)
        if isinstance(node, ast.Name):
            if node.id in constants:
                return constants[node.id]
            if variables is not None:
                if node.id in variables:
                    return sympy.Symbol(node.id, real=True)
                close = difflib.get_close_matches(node.id, (*variables, *CONSTANTS, *FUNCTIONS), n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise FormulaError(f"unknown name {node.id!r}{hint}{_where(text, node)}: the variable"
                                   f"{'s are' if len(variables) > 1 else ' is'} {', '.join(variables)}, "
                                   f"the constants pi and e")
            if node.id in _PLANE or _indexed(node.id):
                names.add(node.id)
                return sympy.Symbol(node.id, real=True)
            close = difflib.get_close_matches(node.id, (*_PLANE, *CONSTANTS, *FUNCTIONS), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FormulaError(f"unknown name {node.id!r}{hint}{_where(text, node)}: the variables are x, y, z or "
                               f"x1 … xn, the constants pi and e")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = build(node.operand, depth + 1)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            chain = isinstance(node.left, ast.BinOp) and type(node.left.op) is type(node.op)  # a + b + c + …
            left, right = build(node.left, depth + (0 if chain else 1)), build(node.right, depth + 1)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                if right == 0:
                    raise FormulaError(f"division by zero{_where(text, node)}")
                return left / right
            if right.is_number:
                exponent = complex(right.evalf(20))
                if exponent.imag != 0 or not np.isfinite(exponent.real) or abs(exponent.real) > MAX_EXPONENT:
                    raise FormulaError(f"constant exponent {right} is out of range: the limit is "
                                       f"±{MAX_EXPONENT}{_where(text, node)}")
            if left.is_zero and right.is_number and right.is_negative:
                raise FormulaError(f"division by zero (0 to a negative power){_where(text, node)}")
            if left.is_number and left.is_negative and right.is_number and not right.is_integer:
                raise FormulaError(f"a negative number to a fractional power is complex{_where(text, node)}")
            if left.is_number and right.is_number and abs(float(right) * _log10(left)) > MAX_MAGNITUDE:
                # refused before sympy builds it: ((2**100)**100)**100 is an exact integer of a million digits
                raise FormulaError(f"constant {ast.unparse(node)} is out of range (about 10^"
                                   f"{float(right) * _log10(left):.0f}){_where(text, node)}")
            return left ** right
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in functions:
                if isinstance(func, ast.Name):
                    close = difflib.get_close_matches(func.id, FUNCTIONS, n=1, cutoff=0.5)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise FormulaError(f"unknown function {func.id!r}{hint}{_where(text, node)}: the functions "
                                       f"are {', '.join(FUNCTIONS)}")
                raise FormulaError(f"only the functions {', '.join(FUNCTIONS)} may be called{_where(text, node)}")
            if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
                raise FormulaError(f"{func.id} takes exactly one argument{_where(text, node)}")
            return functions[func.id](build(node.args[0], depth + 1))
        kind = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambdas",
                ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons",
                ast.BoolOp: "and/or", ast.IfExp: "if-expressions", ast.JoinedStr: "strings"}.get(type(node))
        if isinstance(node, ast.BinOp):
            kind = f"the operator {type(node.op).__name__}"
        raise FormulaError(f"{kind or type(node).__name__ + ' nodes'} not allowed in a formula{_where(text, node)}"
                           f"; allowed: numbers, x, y, z or x1 … xn, pi, e, + - * / **, {', '.join(FUNCTIONS)}")

    expr = build(tree.body, 0)
    if variables is not None:
        return expr, tuple(variables)
    plane = names & set(_PLANE)
    indexed = names - plane
    if plane and indexed:
        raise FormulaError(f"use either x, y, z or x1 … xn, not both (found {', '.join(sorted(names))})")
    if indexed:
        d = max(int(n[1:]) for n in indexed)
        variables = tuple(f"x{i}" for i in range(1, d + 1))
    else:
        d = max((_PLANE.index(n) + 1 for n in plane), default=1)
        variables = _PLANE[:d]
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise FormulaError("the formula is undefined everywhere (division by zero or log(0) of constants)")
    if expr.has(sympy.I):
        raise FormulaError("the formula has a complex constant (a negative number to a fractional power)")
    return expr, variables


def _log10(number) -> float:
    """log10 |number| of a sympy number, without evaluating anything large (0 for 0)."""
    if number.is_zero:
        return 0.0
    if number.is_Rational:
        return math.log10(abs(number.p)) - math.log10(number.q)
    return math.log10(abs(complex(number.evalf(20))))


def _indexed(name: str) -> bool:
    if not (name.startswith("x") and name[1:].isdigit() and not name[1:].startswith("0")):
        return False
    if int(name[1:]) > MAX_DIM:
        raise FormulaError(f"{name}: at most {MAX_DIM} variables (x1 … x{MAX_DIM})")
    return True


def _evaluator(exprs, variables):
    """A function of points ``(..., d)`` returning the value of every expression in ``exprs``,
    computed by walking the sympy trees (common subexpressions once) into numpy operations."""
    import sympy

    symbols = [sympy.Symbol(v, real=True) for v in variables]
    shared, reduced = sympy.cse(list(exprs))
    ops = {sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan, sympy.exp: np.exp, sympy.log: np.log,
           sympy.tanh: np.tanh, sympy.Abs: np.abs, sympy.sign: np.sign}

    def walk(e, env, shape):
        if e in env:
            return env[e]
        if e.is_Number or e.is_NumberSymbol:
            return np.full(shape, float(e))
        if e.is_Add:
            out = walk(e.args[0], env, shape)
            for a in e.args[1:]:
                out = out + walk(a, env, shape)
            return out
        if e.is_Mul:
            out = walk(e.args[0], env, shape)
            for a in e.args[1:]:
                out = out * walk(a, env, shape)
            return out
        if e.is_Pow:
            base, exponent = e.args
            b = walk(base, env, shape)
            if exponent == sympy.Rational(1, 2):
                return np.sqrt(b)
            if exponent.is_Integer:
                k = int(exponent)
                if k == 2:
                    return b * b
                return np.power(b, float(k)) if k > 0 else 1.0 / np.power(b, float(-k))
            return np.power(b, walk(exponent, env, shape))
        if isinstance(e, sympy.DiracDelta):  # |x|'' : zero except on a set of measure zero
            return np.zeros(shape)
        if e.func in ops:
            return ops[e.func](walk(e.args[0], env, shape))
        raise _Unsupported(f"cannot evaluate {e.func.__name__} (in {e})")

    def evaluate(x: np.ndarray):
        env = {s: x[..., i] for i, s in enumerate(symbols)}
        shape = x.shape[:-1]
        with np.errstate(all="ignore"):  # a pole or a negative log is NaN/inf in that point, as data
            for sym, sub in shared:
                env[sym] = walk(sub, env, shape)
            return [np.array(np.broadcast_to(walk(r, env, shape), shape)) for r in reduced]

    return evaluate


class _NotCompiled(Exception):
    """An operation whose compiled result could differ from numpy's in the last bit."""


#: Functions whose compiled form (libm's, called by numba) gives numpy's bits: numpy's own float64
#: sin and cos are libm's, abs and sign are exact. numpy's tan, exp, log, tanh and power are SIMD
#: implementations that differ from libm in the last bit, so formulas using them run in numpy only.
_COMPILED_FUNCTIONS = {"sin": "np.sin", "cos": "np.cos", "Abs": "np.abs", "sign": "np.sign"}
_SCALAR_FUNCTIONS: dict = {}


def _scalar_function(name: str, exprs, variables):
    """A function ``name(a0, …, a_{d−1}, params)`` of scalars returning the values of ``exprs`` (a
    tuple when ``exprs`` is a list, else one value), for the compiled engine: written from the
    validated sympy trees, node by node as :func:`_evaluator` walks them into numpy operations (the
    same common subexpressions, the same order of operands), so that it computes the same bits;
    the text holds only the engine's identifiers (``a0``…, ``t0``…), numbers and numpy function
    names, never the user's text. Raises :class:`_NotCompiled` for an operation whose numpy result
    the compiled one would not reproduce bit for bit (see ``_COMPILED_FUNCTIONS``; integer powers
    other than ±1 and ±2, non-integer powers but √)."""
    import sympy

    from .pointwise import define

    many = isinstance(exprs, list)
    symbols = [sympy.Symbol(v, real=True) for v in variables]
    shared, reduced = sympy.cse(exprs if many else [exprs])
    env = {s: f"a{i}" for i, s in enumerate(symbols)}
    lines: list[str] = []

    def emit(text: str) -> str:
        lines.append(f"t{len(lines)} = {text}")
        return f"t{len(lines) - 1}"

    def fold(e, op: str) -> str:
        out = walk(e.args[0])
        for a in e.args[1:]:
            out = emit(f"{out} {op} {walk(a)}")
        return out

    def walk(e) -> str:
        if e in env:
            return env[e]
        if e.is_Number or e.is_NumberSymbol:
            return f"({float(e)!r})"
        if e.is_Add:
            return fold(e, "+")
        if e.is_Mul:
            return fold(e, "*")
        if e.is_Pow:
            base, exponent = e.args
            b = walk(base)
            # as _evaluator: √ is np.sqrt; b**2 is b*b; b**±1 and b**-2 go through np.power, whose
            # exponents 1.0 and 2.0 numpy computes exactly (b and b*b)
            if exponent == sympy.Rational(1, 2):
                return emit(f"np.sqrt({b})")
            if exponent.is_Integer and int(exponent) in (1, 2, -1, -2):
                k = int(exponent)
                power = b if abs(k) == 1 else emit(f"{b} * {b}")
                return power if k > 0 else emit(f"1.0 / {power}")
            raise _NotCompiled(f"the power {e}")
        if isinstance(e, sympy.DiracDelta):
            return "(0.0)"
        if e.func.__name__ in _COMPILED_FUNCTIONS and len(e.args) == 1:
            return emit(f"{_COMPILED_FUNCTIONS[e.func.__name__]}({walk(e.args[0])})")
        raise _NotCompiled(f"{e.func.__name__}")

    for sym, sub in shared:
        env[sym] = walk(sub)
    results = [walk(r) for r in reduced]
    result = "(" + ", ".join(results) + ("," if len(results) == 1 else "") + ")" if many else results[0]
    args = ", ".join([*(f"a{i}" for i in range(len(symbols))), "params"])
    source = "\n".join([f"def {name}({args}):", *(f"    {line}" for line in lines), f"    return {result}"]) + "\n"
    if source not in _SCALAR_FUNCTIONS:  # one function per text: the engine compiles each loop once
        _SCALAR_FUNCTIONS[source] = define(name, source, {"np": np, "__name__": __name__})
    return _SCALAR_FUNCTIONS[source]


@dataclass(frozen=True, eq=False)
class FormulaLandscape(Landscape):
    """A landscape from a formula (see :func:`parse_formula`): value, exact gradient and Hessian.

    ``bounds``: the plot box, ``(d, 2)`` (default [−5, 5] per coordinate); ``start``: the default
    start (default a point of the box where the formula is finite and not stationary,
    :func:`~simulate.landscapes.base.moving_start`); ``minima``: the minima to list. Not given, a 1-D or 2-D
    formula's are searched for in the box (:func:`~simulate.landscapes.search_minima`: grid,
    Newton, each one checked stationary with a positive definite Hessian); beyond 2-D none are
    listed, and sweeps and figures say so rather than guess.
    """

    formula: str = "x**2 + y**2"
    bounds: object = None
    start: object = None
    minima: object = ()

    name = "formula"
    description = 'your own formula in x, y (z) or x1 … xn, e.g. "x**2 + 10*y**2"'

    def __post_init__(self):
        import sympy

        expr, variables = parse_formula(self.formula)
        symbols = [sympy.Symbol(v, real=True) for v in variables]
        grad = [sympy.diff(expr, s) for s in symbols]
        # The symbolic Hessian costs d differentiations of every gradient entry: where that would be
        # large (a product over 20 variables took a minute), it is the central difference of the
        # exact gradient instead.
        symbolic = sympy.count_ops(grad) * len(symbols) <= HESSIAN_BUDGET
        hess = [sympy.diff(g, s) for g in grad for s in symbols] if symbolic else []
        if any(e.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I) for e in (expr, *grad, *hess)):
            raise FormulaError(f"{self.formula!r} or its derivatives are undefined everywhere "
                               "(a constant division by zero, log(0) or a complex constant)")
        d = len(variables)
        given = {k: getattr(self, k) for k in ("bounds", "start", "minima")}
        bounds, start = plot_box(self.bounds, self.start, d, FormulaError)
        _set(self, dim=d, variables=variables, expression=expr, _given=given, bounds=bounds, default_start=start,
             _value_of=_evaluator([expr], variables), _grad_of=_evaluator(grad, variables),
             _hess_of=_evaluator(hess, variables) if symbolic else None)
        super().__post_init__()
        probe = np.stack([self.default_start, self.default_start + 0.1])
        try:  # once, so that an expression numpy cannot evaluate is refused now, not in the middle of a run
            self._value(probe), self._grad(probe), self._hess(probe)
        except _Unsupported as exc:
            raise FormulaError(f"{self.formula!r}: {exc} (abs() of an expression that may be negative or "
                               "complex inside, such as abs(log(x)), has no derivative numpy can evaluate)") from None
        if len(self.minima) == 0 and self._given["minima"] is not None and len(self._given["minima"]) == 0:
            found = search_minima(self)
            found.setflags(write=False)
            object.__setattr__(self, "minima", found)
        if self.start is None:
            _settle_start(self)

    @property
    def label(self) -> str:
        """The formula itself, or ``formula(formula="...", bounds=...)`` when more was given."""
        extra = {k: v for k, v in self._given.items() if v is not None and not (k == "minima" and len(v) == 0)}
        if not extra:
            return self.formula.strip()
        return format_spec(self.name, extra).replace(f"{self.name}(", f"{self.name}(formula={self.formula.strip()!r}, ", 1)

    def _value(self, x):
        return self._value_of(x)[0]

    def _grad(self, x):
        return np.stack(self._grad_of(x), axis=-1)

    def _hess(self, x):
        d = self.dim
        if self._hess_of is not None:
            return np.stack(self._hess_of(x), axis=-1).reshape(x.shape[:-1] + (d, d))
        return differenced_hessian(self._grad, x)

    @functools.cached_property
    def _pointwise(self):
        """(grad, value) as functions of scalars for the compiled engine (:func:`_scalar_function`),
        or the reason there are none."""
        import sympy

        symbols = [sympy.Symbol(v, real=True) for v in self.variables]
        try:
            return (_scalar_function("formula_grad", [sympy.diff(self.expression, s) for s in symbols], self.variables),
                    _scalar_function("formula_value", self.expression, self.variables))
        except _NotCompiled as exc:
            return f"{exc} has no compiled form with numpy's bits"

    @property
    def pointwise_grad(self):
        """(∇f as a function of the coordinates, ()) for the compiled engine, or None (see
        :func:`_scalar_function`)."""
        return None if isinstance(self._pointwise, str) else (self._pointwise[0], ())

    @property
    def pointwise_value(self):
        return None if isinstance(self._pointwise, str) else (self._pointwise[1], ())


def formula_function(text: str, variables: tuple[str, ...], where: str = "formula"):
    """A numpy function of ``variables`` from a formula: ``formula_function("1/(1 + 0.01*k)", ("k",))``
    maps an array ``(...)`` (or ``(..., n)`` for n variables) to values ``(...)``. The text is read by
    :func:`parse_formula`, never evaluated; errors name ``where``."""
    try:
        expr, names = parse_formula(text, variables)
        evaluate = _evaluator([expr], names)
    except FormulaError as exc:
        raise FormulaError(f"{where}: {exc}") from None

    def function(values):
        values = np.asarray(values, dtype=np.float64)
        return evaluate(values[..., None] if len(names) == 1 else values)[0]

    return function


def formula_landscape(text: str, **params) -> FormulaLandscape:
    """A formula (``"x**2 + 10*y**2"``), or the spec form with the rest of the landscape
    (``formula("x**2 + 10*y**2", bounds=((-2, 2), (-1, 1)), start=(1.5, 0.5), minima=((0, 0),))``),
    the form that :attr:`FormulaLandscape.label` writes."""
    from ..spec import SpecError, _value

    text = text.strip()
    m = re.fullmatch(r"formula\s*\((.*)\)", text, flags=re.S)
    if not m:
        return FormulaLandscape(text, **params)
    try:
        call = ast.parse(f"f({m.group(1)})", mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"cannot read the arguments of formula(...): {exc.msg}") from None
    given = dict(params)
    for arg in call.args[:1]:
        given["formula"] = arg
    if len(call.args) > 1:
        raise FormulaError("formula(...) takes the formula, then bounds=, start=, minima= as key=value")
    for kw in call.keywords:
        if kw.arg not in ("formula", "bounds", "start", "minima"):
            raise FormulaError(f"formula(...) has no parameter {kw.arg!r}: formula, bounds, start, minima")
        given[kw.arg] = kw.value
    node = given.get("formula")
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise FormulaError('formula(...) needs the formula as a quoted string: formula("x**2 + y**2", ...)')
    values = {}
    for key, v in given.items():
        if key == "formula":
            continue
        try:
            values[key] = _value(v, f"formula: {key}") if isinstance(v, ast.AST) else v
        except SpecError as exc:
            raise FormulaError(str(exc)) from None
    return FormulaLandscape(node.value, **values)


def is_variable(name: str) -> bool:
    """Whether ``name`` is a coordinate's name in a formula (x, y, z, x1 …)."""
    return name in _PLANE or (name.startswith("x") and name[1:].isdigit() and not name[1:].startswith("0"))
