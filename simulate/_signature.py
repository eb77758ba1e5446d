"""One calling convention for every public function, and the old spellings kept working for a while.

The convention (as scipy's ``minimize(fun, x0, method)`` and ``solve_ivp(fun, ...)``): **the
problem first, then how, then where it starts**::

    iterate(landscape, optimizer, start=None, steps=100, *, ...)
    sweep(landscape, optimizers, axes, *, start=None, ...)
    plot(landscape="himmelblau", optimizers=None, start=None, steps=100, *, ...)
    euler_step(landscape, optimizer, state, k)

- the landscape (the problem) is the first parameter of every function that takes one;
- a function that runs one optimizer names it ``optimizer``, one that runs several ``optimizers``;
  it comes right after the landscape (a function without a landscape, such as
  ``stability_threshold(optimizer)`` or ``flow(optimizer, kind)``, takes it first);
- the start point is ``start`` everywhere (a state or points at which something is evaluated
  keep their own names: ``euler_step(..., state, k)``, ``sharpness(landscape, x)``);
- every parameter can be passed by keyword, and the result's attributes are named as the files
  they are saved to name them (``OrderResult.observed_order`` is the JSON's ``observed_order``).

The old spellings raise :class:`OldSpelling`, a ``DeprecationWarning``; the test suite turns it
into an error (``filterwarnings`` in pyproject.toml), so the package's own code never uses one.

:func:`public` keeps the old spellings working, each with one ``DeprecationWarning`` that names the
new spelling and points at the caller's line: the keywords ``x0=`` and ``opt=``, and the old
positional order with the optimizer first. The old order is recognised by what the argument in the
landscape's place is (through the protocols, never by a registered name): an
:class:`~simulate.optimizers.base.Optimizer`, or text that parses as an optimizer and not as a
landscape (or, for ``optimizers``, a list of such): :func:`simulate.solvers.inputs.is_optimizer`.
This module imports none of the package's layers (the optimizers' own modules use it too).

:func:`warn` is ``warnings.warn`` with the stack level counted without the frames of this
package's decorators (:func:`public` and :func:`simulate._checks.checked`), so that a warning
raised inside a decorated function points at the line that called it.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings

from . import _checks

__all__ = ["RENAMED", "OldSpelling", "public", "renamed", "warn"]

#: Old keyword -> its name in the convention.
RENAMED = {"x0": "start", "opt": "optimizer"}


class OldSpelling(DeprecationWarning):
    """An old spelling of a call or an attribute: it still works, and the message names the new one."""


#: The files whose frames are the decorators' own (not counted by :func:`warn`).
_WRAPPER_FILES = frozenset({__file__, _checks.__file__})


class Said(UserWarning):
    """A warning a command says on the terminal in one line (a result worth a second look: a flow
    stopped early, a run that barely moved, a target above the minimum): every such warning class
    derives from this one, wherever it is defined, so the CLI needs to know none of them."""


#: The package's folder: a :class:`Said` warning points at the first line outside it.
_PACKAGE = os.path.dirname(__file__) + os.sep


def warn(message, category=None, stacklevel: int = 1) -> None:
    """``warnings.warn(message, category, stacklevel)`` where the stack level counts only frames
    outside the decorators: ``stacklevel=2`` in a decorated public function points at its caller.

    A :class:`Said` warning points at the user's line whatever ``stacklevel`` says: the first frame
    outside the package (a notebook cell, a script, a test), however deep inside it was raised."""
    frame, level, counted = sys._getframe(1), 1, 1
    if isinstance(category, type) and issubclass(category, Said):
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
            frame, level = frame.f_back, level + 1
        warnings.warn(message, category, stacklevel=level + 1 if frame is not None else 2)
        return
    while frame is not None and counted < stacklevel:
        frame, level = frame.f_back, level + 1
        if frame is not None and frame.f_code.co_filename not in _WRAPPER_FILES:
            counted += 1
    warnings.warn(message, category, stacklevel=level + 1)


def public(function=None, *, before: tuple[str, ...] = (), recognise=None):
    """Accept the old spellings of a public function's call, with one ``DeprecationWarning``.

    ``before``: the leading parameters in their old positional order (new names), e.g.
    ``("optimizer", "landscape")`` for a function that once took the optimizer first; a call whose
    first positional argument is an optimizer (``recognise(value, several)``:
    :func:`simulate.solvers.inputs.is_optimizer`, passed in since this module sits below the
    optimizers) is then read in that order. ``x0=`` and ``opt=`` (:data:`RENAMED`) are read as
    ``start=`` and ``optimizer=`` where the function has those."""
    if function is None:
        return lambda f: public(f, before=before, recognise=recognise)
    if before and recognise is None:
        raise TypeError("public(before=...) needs recognise=: how to tell an optimizer in the landscape's place")
    signature = inspect.signature(function)
    names = list(signature.parameters)
    renamed = {old: new for old, new in RENAMED.items() if new in names and old not in names}
    old_order = [*before, *(n for n in names if n not in before)] if before else None
    several = "optimizers" in before
    title = function.__qualname__.replace(".__init__", "")

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        said = []
        if old_order and args and recognise(args[0], several):
            positional = [n for n in old_order if signature.parameters[n].kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)]
            if len(args) > len(positional):
                raise TypeError(f"{title}() takes at most {len(positional)} positional arguments "
                                f"({len(args)} given)")
            for n, value in zip(positional, args):
                if n in kwargs:
                    raise TypeError(f"{title}() got multiple values for argument {n!r}")
                kwargs[n] = value
            args = ()
            said.append(f"{title}({', '.join(before)}, ...) is deprecated: call "
                        f"{title}({', '.join(n for n in names if n in before)}, ...)")
        for old, new in renamed.items():
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{title}() got both {new}= and its old spelling {old}=: give {new}= only")
                kwargs[new] = kwargs.pop(old)
                said.append(f"{old}= is deprecated: call {title}(..., {new}=...)")
        if said:
            warn(f"{title}: " + "; ".join(said), OldSpelling, stacklevel=2)
        return function(*args, **kwargs)

    wrapper.__signature__ = signature
    return wrapper


class renamed:
    """A result's attribute under its old name: reading it gives the attribute ``new`` with one
    :class:`OldSpelling` warning at the reader's line (``order = renamed("observed_order")``)."""

    def __init__(self, new: str):
        self.new = new

    def __set_name__(self, owner, name: str) -> None:
        self.old, self.owner = name, owner.__name__

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        warn(f"{self.owner}.{self.old} is deprecated: read .{self.new} (the name its files use)", OldSpelling,
             stacklevel=2)
        return getattr(obj, self.new)
