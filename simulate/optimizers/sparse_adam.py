"""torch.optim.SparseAdam: refused, with the reason (theory §10.3)."""

from __future__ import annotations

__all__ = ["REFUSED"]

_WHY = ("sparseadam (torch.optim.SparseAdam) is not simulated: it needs sparse gradients, and on a dense problem "
        "its update is not a function of (x, ∇f(x)): coordinates outside the gradient's support keep m and v frozen "
        "instead of decaying them, and to_sparse() also drops coordinates whose gradient is exactly 0, so there is "
        "no vector field on the dense state (torch itself raises 'SparseAdam does not support dense gradients'). "
        "With full support it is Adam with ε replaced by ε/√(1 − β₂ᵗ): use 'adam'")

#: Names refused with the reason (not "unknown name"): torch.optim classes with no dense dynamics.
REFUSED: dict[str, str] = {"sparseadam": _WHY, "sparse-adam": _WHY}
