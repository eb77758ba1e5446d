r"""Stochastic differential equations of SGD: the continuous models of noisy iterates.

With gradient noise of covariance Σ(x) (a :class:`~simulate.solvers.noise.Noise`), SGD with step lr is
the Euler–Maruyama method, at dt = lr, of its **stochastic modified equation** (Li, Tai & E 2017;
theory §5), on the clock t = k·lr::

    order 1:  dX = −∇f dt + √lr·Σ^{1/2} dW            (drift: the ``exact`` flow, gradient flow)
    order 2:  dX = −∇(f + lr/4·|∇f|²) dt + √lr·Σ^{1/2} dW   (drift: the ``modified`` flow)

Both are weak approximations, with errors O(lr) and O(lr²) in expectations on finite horizons. On
f = a·x²/2 with noise σ the stationary variances are lr·σ²/(a(2 − lr·a)) (SGD, exactly),
lr·σ²/(2a) (order 1) and lr·σ²/(2a(1 + lr·a/2)) (order 2).

Every model of :mod:`simulate.models` that an SGD-family optimizer has becomes an SDE the same
way, the noise entering where the gradient enters the lift:

=============================  ===============================================================
drift (flow kind)              diffusion, per unit of Σ^{1/2} dW
=============================  ===============================================================
``exact``, GD                  x: −√lr                     (the first-order SME)
``exact``, heavy ball          b: (1 − τ)/√lr              (noise drives the buffer, ẋ = −b)
``exact``, Nesterov            b: 1/√lr, x: −√lr           (one dW, both components)
``modified``, ``modified2``,   x: −√lr·(1 − τ)/(1 − μ)     (μ = τ = 0 for GD: the second-order SME)
``limit``
=============================  ===============================================================

So the exact lift's semi-implicit Euler–Maruyama step at dt = lr *is* the noisy optimizer (the
same draws give the same iterates to rounding; with dampening τ > 0 except for the first step,
whose buffer torch leaves undampened, noise included); ``substeps`` > 1 resolves the SDE below
the optimizer's own step. Schemes: ``euler-maruyama`` (weak order 1, any noise) and ``heun``
(stochastic Heun: weak order 2 for additive noise; refused for minibatch noise, whose Σ depends
on x: with the kick taken at the step's start it would only be a weak-order-1 predictor–corrector,
no better than Euler–Maruyama at twice the cost).
"""

from __future__ import annotations

import numpy as np

from .._checks import checked
from .._signature import public
from .inputs import is_optimizer, resolve
from .discrete import check_seed, check_steps, run_map
from ..models import flow as make_flow
from .._names import lookup
from .noise import Noise, noise as noise_model, whole
from .trajectory import Trajectory, check_record_size, default_escape_radius, finish, sample_times

__all__ = ["sde", "SCHEMES", "SUPPORTED_DRIFTS", "diffusion", "sde_model"]

#: The SDE schemes (stochastic Heun is not the optimizer heun: it is the SDE's predictor-corrector).
EULER_MARUYAMA, STOCHASTIC_HEUN = SCHEMES = ("euler-maruyama", "heun")
SUPPORTED_DRIFTS = ("exact", "modified", "modified2", "limit")


def diffusion(model) -> dict[str, np.ndarray]:
    """The coefficient of ``Σ^{1/2} dW`` in each state component's equation, per batch member."""
    opt = model.optimizer
    if model.kind not in SUPPORTED_DRIFTS or opt.sde_refusal():
        raise ValueError(f"no SDE is built on the {model.kind} flow of {opt.display_name}")
    return opt.diffusion(model)


def sde_model(opt, drift: str | None, scheme: str, model_noise: Noise):
    """The drift's flow, after checking that ``opt`` has an SDE on it and ``scheme`` fits the noise."""
    refusal = opt.sde_refusal()
    if refusal:
        raise ValueError(f"{refusal}; run its iterates with noise instead")
    if opt.schedule is not None or opt.transformed:
        raise ValueError(f"no SDE model for {opt.label}: the SDEs assume a constant lr and the plain gradient; run "
                         f"its iterates with noise instead")
    kind = drift or "exact"
    if kind not in SUPPORTED_DRIFTS:
        raise ValueError(f"drift {kind!r}: an SDE is built on one of the flows {', '.join(SUPPORTED_DRIFTS)}")
    model = make_flow(opt, kind)
    lookup("scheme", scheme, dict.fromkeys(SCHEMES))
    if scheme == STOCHASTIC_HEUN and not model_noise.state_independent:
        raise ValueError("the heun scheme needs additive noise (Σ independent of x) for its weak order 2; minibatch "
                         "noise depends on x: use euler-maruyama")
    return model


class _Stepper:
    """What :func:`simulate.solvers.discrete.advance` steps: ``substeps`` SDE steps per optimizer step."""

    def __init__(self, model, landscape, x0, noise: Noise, seed: int, substeps: int, scheme: str):
        self.model, self.noise, self.scheme, self.substeps = model, noise, scheme, substeps
        self.rng = np.random.default_rng(seed)
        self.h = np.asarray(model.time_per_step, dtype=np.float64)
        self.dt = self.h / substeps
        self.coefficients = {k: np.asarray(v)[..., None] for k, v in diffusion(model).items()}
        self.start = model.init(x0, landscape)

    def init(self, x0):
        return dict(self.start)

    def step(self, state, landscape, k):
        for j in range(self.substeps):
            t = ((k - 1) * self.substeps + j) * self.dt
            state = self._substep(t, state, landscape)
        return state

    def _kick(self, x, landscape) -> np.ndarray:
        """Σ^{1/2}(x)·ΔW for one substep, ``(..., d)``."""
        return self.noise.kick(landscape, x, self.rng) * np.sqrt(self.dt)[..., None]

    def _substep(self, t, state, landscape):
        dt = self.dt[..., None]
        kick = self._kick(state["x"], landscape)
        if self.scheme == EULER_MARUYAMA:  # semi-implicit in the lift's update order, like euler_step
            new = dict(state)
            for name in state:
                noise = self.coefficients[name] * kick if name in self.coefficients else 0.0
                new[name] = state[name] + dt * self.model.field(t, new, landscape)[name] + noise
            return new
        noise = {name: self.coefficients.get(name, 0.0) * kick for name in state}
        f0 = self.model.field(t, state, landscape)
        guess = {name: state[name] + dt * f0[name] + noise[name] for name in state}
        f1 = self.model.field(t + self.dt, guess, landscape)
        return {name: state[name] + 0.5 * dt * (f0[name] + f1[name]) + noise[name] for name in state}


@public(before=("optimizer", "landscape"), recognise=is_optimizer)
@checked
def sde(landscape, optimizer, start=None, steps: int = 100, *, noise=None, batch_size: int | None = None, drift: str | None = None,
        scheme: str = "euler-maruyama", substeps: int = 10, seed: int = 0, escape_radius: float | None = None,
        gtol: float = 1e-8) -> Trajectory:
    """Integrate the SDE of ``optimizer`` on ``landscape`` with gradient ``noise`` (and/or minibatches of ``batch_size``) from ``start`` over ``steps`` optimizer steps.

    What is solved: the SDE whose drift is the flow ``drift`` (default ``exact``: the first-order
    stochastic modified equation for GD; ``modified`` gives the second-order one) and whose
    diffusion is √lr·Σ^{1/2} where the gradient enters (see the module table). How it is stepped:
    ``scheme`` with ``substeps`` steps of dt = lr/substeps per optimizer step. What is saved: the
    state at ``t = k·lr``, k = 0..steps, the iterates' times, so the two compare sample by sample.

    ``start`` ``(d,)`` or ``(B, d)``: every member is an independent path (give B copies of one start
    for an ensemble). Seeded draws: the same seed gives the same bits. Members that become
    non-finite or leave the escape ball are stopped and reported as diverged, as for iterates.
    """
    opt, landscape, x0 = resolve(optimizer, landscape, start)
    check_steps(steps)
    model_noise = noise_model(noise, batch_size=batch_size)
    if model_noise is None:
        raise ValueError("an SDE needs gradient noise: give noise=σ or a Noise (with no noise it is the flow: "
                         "use simulate.integrate)")
    model_noise.check(landscape)
    scheme = str(scheme).strip().lower()
    model = sde_model(opt, drift, scheme, model_noise)
    substeps = whole("substeps", substeps, 1)
    radius = default_escape_radius(landscape) if escape_radius is None else float(escape_radius)
    batch = np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    check_record_size(steps + 1, batch + x0.shape[-1:])
    stepper = _Stepper(model, landscape, x0, model_noise, check_seed(seed), int(substeps), scheme)
    diverged_at, xs = run_map(stepper, landscape, x0, steps, radius, batch)
    stats = {"escape_radius": radius, "noise": model_noise.label, "seed": seed, "scheme": scheme,
             "substeps": int(substeps)}
    return finish("sde", sample_times(model, steps, batch), xs, opt, landscape, diverged_at, gtol, stats=stats,
                  time_per_step=model.time_per_step, flow=model.kind)
