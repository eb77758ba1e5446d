"""What an optimizer tells the compiled engine about its update: the :class:`Kernel` record.

An optimizer whose step is elementwise (each coordinate of each member updated from its own
gradient coordinate, its own buffers and per-member scalars) returns a :class:`Kernel` from
``kernel()``; :mod:`simulate.solvers.engine` builds its one compiled loop from it. The update
function is the one the optimizer's numpy ``step`` calls (:mod:`simulate.optimizers.kernels`), so the
two paths compute the same bits. An optimizer that returns None runs the numpy loop only.

The update is called, per coordinate, as ``update(x, g, *buffers, *args) -> (x, *buffers)``; each
name in ``args`` is one of

* a key of ``hypers``: that member's hyperparameter (an array of the optimizer's batch shape);
* a key of ``flags``: a structural switch, compiled as a constant;
* a name in ``table_names``: this step's entry of a per-step table (``tables``);
* ``"first"`` (whether this is step 1) or ``"k"`` (the 1-based step number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Kernel", "STEP_ARGS"]

#: Argument names the engine supplies itself: ``first`` (k == 1) and ``k``.
STEP_ARGS = ("first", "k")


@dataclass(frozen=True)
class Kernel:
    """An elementwise update, as the compiled engine runs it (see the module's docstring).

    ``update``: the scalar/array function, ``update(x, g, *buffers, *args) -> (x, *buffers)``.
    ``buffers``: the names of the update's buffer arguments, in its order.
    ``args``: the names of the arguments after the buffers, in its order.
    ``hypers``: per-member values, arrays broadcastable to the optimizer's batch shape.
    ``flags``: compile-time switches (plain bools).
    ``tables``: ``tables(k)`` for an integer array ``k`` of shape ``(steps + 1, 1, …, 1)`` (one 1 per
    batch axis) returns one array per name of ``table_names``, broadcastable to ``(steps + 1,) +
    batch``: values the update takes at step k, computed once for the run as the numpy step computes
    them (row 0 is unused). ``per_member_tables``: whether they vary over the members (then they are
    ``(steps + 1) × members``, which :data:`simulate.solvers.engine.MAX_TABLE` bounds).
    ``start``: initial buffer values (default 0), per member. ``carried``: the buffers this
    configuration keeps (default all); the others are passed as 0 and their results dropped.
    """

    update: Callable
    buffers: tuple[str, ...]
    args: tuple[str, ...]
    hypers: Mapping[str, np.ndarray] = field(default_factory=dict)
    flags: Mapping[str, bool] = field(default_factory=dict)
    table_names: tuple[str, ...] = ()
    tables: Callable | None = None
    per_member_tables: bool = False
    start: Mapping[str, np.ndarray] = field(default_factory=dict)
    carried: tuple[str, ...] | None = None

    def __post_init__(self):
        known = (*self.hypers, *self.flags, *self.table_names, *STEP_ARGS)
        for name in self.args:
            if name not in known:
                raise ValueError(f"kernel of {getattr(self.update, '__name__', self.update)!r}: argument {name!r} is "
                                 f"neither a hyperparameter, a flag, a table nor one of {', '.join(STEP_ARGS)}")
        for name in (*self.start, *(self.carried or ())):
            if name not in self.buffers:
                raise ValueError(f"kernel: {name!r} is not one of the buffers {self.buffers}")
        if self.table_names and self.tables is None:
            raise ValueError("kernel: table_names given without a tables function")
        for name, value in self.flags.items():
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"kernel: flag {name!r} must be a bool, got {value!r}")

    @property
    def kept(self) -> tuple[str, ...]:
        """The buffers carried from step to step, in the update's order."""
        return self.buffers if self.carried is None else tuple(b for b in self.buffers if b in self.carried)
