"""A compiled Dormand–Prince 5(4) integrator of gradient flows, one step control per member.

``method="RK45-compiled"`` in :func:`simulate.solvers.continuous.integrate` sends the gradient flow
``ẋ = −(∇f(x) + wd·x)`` (GD's exact and limit flows, Heun's and RK4's) on a 2-D landscape with a
pointwise gradient (:mod:`simulate.landscapes.pointwise`) here: every start is its own adaptive solve, as
with ``solve_ivp``, but all of them run in one compiled loop over both cores. The tableau and the
step control are scipy's RK45 (``scipy.integrate.RK45``: error estimator of order 4, safety 0.9,
step factors in [0.2, 10], Hairer–Nørsett–Wanner's initial step); samples are hit exactly by
shortening the step that would pass them (scipy interpolates instead), so values agree with
scipy's RK45 to the tolerance, not to the bit.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import RK45

from ..optimizers.kernels import select
from .engine import _variant, available, compile_variant, cores, on_cores

__all__ = ["supports_flow", "compiled_gradient_flow", "METHOD", "AUTO", "auto_method", "FALLBACK", "MIN_RTOL", "loaded"]

METHOD = "RK45-compiled"
#: ``method="auto"``: this integrator where :func:`supports_flow` holds and the tolerances are within its
#: reach, else :data:`FALLBACK`.
AUTO, FALLBACK = "auto", "LSODA"
#: Below this rtol a 5th-order method needs steps far shorter than the stiff solvers' (and loses
#: digits to rounding): ``auto`` leaves such solves to LSODA.
MIN_RTOL = 1e-12
_DRIVERS: dict = {}


def supports_flow(model, landscape) -> bool:
    """Whether ``model`` (a :class:`~simulate.models.base.Flow`) is a plain gradient flow this integrator covers."""
    opt = model.optimizer
    if opt.schedule is not None or opt.transformed:
        return False
    return bool(model.is_gradient_flow and landscape.pointwise_grad is not None and landscape.dim == 2 and available())


def auto_method(model, landscape, rtol: float, own_steps: bool = False) -> str:
    """The method ``"auto"`` stands for: :data:`METHOD` for a flow :func:`supports_flow` covers at
    ``rtol >= MIN_RTOL`` (``own_steps``: a max_step or first_step was asked for, which only the
    solve_ivp methods take), else :data:`FALLBACK`."""
    if not own_steps and rtol >= MIN_RTOL and supports_flow(model, landscape):
        return METHOD
    return FALLBACK


def loaded(landscape) -> bool:
    """Whether this process has this landscape's compiled solver already (else the first solve
    imports numba and loads or compiles it: :data:`simulate.solvers.cost.COMPILED_LOAD`)."""
    pointwise = landscape.pointwise_grad
    return pointwise is not None and pointwise[0] in _DRIVERS


def compiled_gradient_flow(model, landscape, x0, times, rtol, atol, radius, max_evaluations):
    """Integrate every member; returns ``(xs (T, B, 2), diverged_at (B,), failed (B,), nfev (B,))``.

    ``times`` is ``(T, B)`` (each member's sample times, non-decreasing, >= 0). A member that
    leaves the ball of ``radius`` stops with ``diverged_at`` = the first sample it did not reach;
    one that needs more than ``max_evaluations`` gradient evaluations is ``failed``.
    """
    B = x0.shape[0]
    # Writable copies: a read-only array is another type to numba (another compile, another cache entry).
    wd = np.array(np.broadcast_to(np.asarray(getattr(model.optimizer, "weight_decay", 0.0), float), (B,)))
    grad, params = landscape.pointwise_grad
    run = _driver(grad)
    threads = min(cores(), B)
    xs = np.full((times.shape[0], B, 2), np.nan)
    diverged_at = np.full(B, -1, dtype=np.int64)
    failed = np.zeros(B, dtype=np.bool_)
    nfev = np.zeros(B, dtype=np.int64)
    on_cores(run, threads, np.array(x0, dtype=np.float64, order="C"), np.array(times, dtype=np.float64, order="C"),
             wd, params, float(rtol), float(atol), float(radius) ** 2, int(max_evaluations), RK45.A, RK45.B, RK45.C,
             RK45.E, xs, diverged_at, failed, nfev)
    return xs, diverged_at, failed, nfev


def _driver(grad):
    if grad in _DRIVERS:
        return _DRIVERS[grad]
    import numba as nb

    names = dict(globals(), grad_=nb.njit(inline="always")(grad), norm2_=nb.njit(inline="always")(_norm2))
    names["field_"] = nb.njit(inline="always")(_variant(_field, names))
    _DRIVERS[grad] = run = compile_variant(_rk45_loop, names, ("rk45", grad))
    return run


# -- the compiled solver (a template: _driver binds the names ending in _) ---------------------------
grad_ = field_ = norm2_ = None  # placeholders: each landscape's values come through _variant


def _field(u, v, wd, params):
    gu, gv = grad_(u, v, params)
    return -select(wd != 0, gu + wd * u, gu), -select(wd != 0, gv + wd * v, gv)


def _norm2(a, b):
    return np.sqrt((a * a + b * b) / 2)


def _rk45_loop(share, shares, x0, times, wd, params, rtol, atol, r2, budget, A, Bw, C, E, xs, diverged_at, failed, nfev):
    members = x0.shape[0]
    T = times.shape[0]
    for i in range(share, members, shares):  # members dealt round-robin to the cores
        u, v, w = x0[i, 0], x0[i, 1], wd[i]
        t = 0.0
        j = 0
        while j < T and times[j, i] <= 0.0:  # samples at the start
            xs[j, i, 0], xs[j, i, 1] = u, v
            j += 1
        if not (u * u + v * v <= r2):
            diverged_at[i] = 0
            for q in range(T):
                xs[q, i, 0], xs[q, i, 1] = np.nan, np.nan
            continue
        if j == T:
            continue
        ku = np.empty(7)
        kv = np.empty(7)
        fu, fv = field_(u, v, w, params)
        evaluations = 1
        # initial step (Hairer, Nørsett & Wanner II.4, as scipy's select_initial_step)
        su, sv = atol + abs(u) * rtol, atol + abs(v) * rtol
        d0, d1 = norm2_(u / su, v / sv), norm2_(fu / su, fv / sv)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, times[T - 1, i])
        gu1, gv1 = field_(u + h0 * fu, v + h0 * fv, w, params)
        evaluations += 1
        d2 = norm2_((gu1 - fu) / su, (gv1 - fv) / sv) / h0
        h1 = max(1e-6, h0 * 1e-3) if (d1 <= 1e-15 and d2 <= 1e-15) else (0.01 / max(d1, d2)) ** 0.2
        h = min(100 * h0, h1, times[T - 1, i])
        stopped = False
        while j < T and not stopped:
            target = times[j, i]
            rejected = False
            while True:
                step = min(h, target - t)
                clamped = step < h
                ku[0], kv[0] = fu, fv
                for s in range(1, 6):
                    au, av = 0.0, 0.0
                    for q in range(s):
                        au += A[s, q] * ku[q]
                        av += A[s, q] * kv[q]
                    ku[s], kv[s] = field_(u + step * au, v + step * av, w, params)
                nu, nv = 0.0, 0.0
                for q in range(6):
                    nu += Bw[q] * ku[q]
                    nv += Bw[q] * kv[q]
                un, vn = u + step * nu, v + step * nv
                ku[6], kv[6] = field_(un, vn, w, params)
                evaluations += 6
                eu, ev = 0.0, 0.0
                for q in range(7):
                    eu += E[q] * ku[q]
                    ev += E[q] * kv[q]
                su = atol + max(abs(u), abs(un)) * rtol
                sv = atol + max(abs(v), abs(vn)) * rtol
                err = norm2_(step * eu / su, step * ev / sv)
                if evaluations > budget or not np.isfinite(err):
                    stopped = True
                    if evaluations > budget:
                        failed[i] = True
                    else:
                        diverged_at[i] = j
                    break
                if err < 1.0:
                    factor = 10.0 if err == 0 else min(10.0, 0.9 * err ** -0.2)
                    if rejected:
                        factor = min(1.0, factor)
                    t = target if clamped else t + step
                    u, v, fu, fv = un, vn, ku[6], kv[6]
                    if not clamped:  # a step cut short to hit a sample does not set the next one
                        h = step * factor
                    break
                h = step * max(0.2, 0.9 * err ** -0.2)
                rejected = True
            if stopped:
                break
            if not (u * u + v * v <= r2):
                diverged_at[i] = j
                break
            while j < T and times[j, i] <= t:
                xs[j, i, 0], xs[j, i, 1] = u, v
                j += 1
        nfev[i] = evaluations
