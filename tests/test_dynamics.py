"""iterate / integrate / compare against exact oracles (theory §3), and failure reported as data."""

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.stats import linregress

import simulate as sim
from simulate.solvers.continuous import pack, unpack
from simulate.landscapes import Landscape, Quadratic
from simulate.solvers.trajectory import CONVERGED, DIVERGED, FAILED, RUNNING

from helpers import OPTIMIZERS_UNDER_TEST, case_id

Q = Quadratic(eigenvalues=[1.0, 10.0], angle=0.3)
X0 = np.array([1.0, 1.0])


# -- exact oracles on quadratics ---------------------------------------------------------------------
@pytest.mark.parametrize("method", [m for m in sim.METHODS if m != "RK45-compiled"])  # that one: test_fastflow
def test_gradient_flow_on_a_quadratic_is_expm(method):
    flow = sim.integrate(Q, "gd", X0, t=np.linspace(0, 2, 41), method=method, rtol=1e-10, atol=1e-12)
    exact = np.array([expm(-t * Q.A) @ X0 for t in flow.t])
    assert flow.x.shape == (41, 2) and flow.f.shape == (41,) and flow.t.shape == (41,)
    np.testing.assert_allclose(flow.x, exact, atol=1e-7)
    assert np.all(flow.status == RUNNING)


def test_gd_on_a_quadratic_is_the_matrix_power():
    lr = 0.03
    run = sim.iterate(Q, sim.optimizer("gd", lr=lr), X0, 200)
    M = np.eye(2) - lr * Q.A
    exact = np.array([np.linalg.matrix_power(M, k) @ X0 for k in range(201)])
    np.testing.assert_allclose(run.x, exact, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.t, lr * np.arange(201), rtol=1e-15)
    np.testing.assert_allclose(run.f, Q.value(exact), rtol=1e-12)


def _order(opt_for_lr, land, x0, horizon, lrs):
    errors = []
    for lr in lrs:
        opt = opt_for_lr(lr)
        steps = int(round(horizon / lr))
        run = sim.iterate(land, opt, x0, steps)
        flow = sim.integrate(land, opt, x0, t=run.t, method="DOP853", rtol=1e-12, atol=1e-14)
        errors.append(sim.compare(run, flow).max)
    return linregress(np.log(lrs), np.log(errors)).slope, errors


@pytest.mark.parametrize("land, x0, horizon, lrs", [
    (Q, X0, 0.5, 2.0 ** -np.arange(6, 11)),
    # Rosenbrock's curvature reaches ~1000 along this path: lr must stay below 2/λmax ≈ 2e-3.
    ("rosenbrock", np.array([-1.2, 1.0]), 0.2, 2.0 ** -np.arange(12, 17)),
    ("himmelblau", np.array([0.5, 0.5]), 0.5, 2.0 ** -np.arange(8, 13)),
], ids=["quadratic", "rosenbrock", "himmelblau"])
def test_gd_approaches_its_flow_at_order_one(land, x0, horizon, lrs):
    slope, errors = _order(lambda lr: sim.optimizer("gd", lr=lr), land, x0, horizon, lrs)
    assert abs(slope - 1) < 0.1, (slope, errors)
    assert errors[-1] < errors[0]


@pytest.mark.parametrize("lam, beta", [(10.0, 0.9), (10.0, 0.1), (1.0, 0.5)])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_on_an_eigendirection_follows_its_characteristic_polynomial(lam, beta, nesterov):
    """x_k = c₁z₁ᵏ + c₂z₂ᵏ with z the roots of z² − (1+β−αλ)z + β (heavy ball) or
    z² − (1+β)(1−αλ)z + β(1−αλ) (torch's Nesterov), fixed by x₀ and x₁ (theory §2.3–2.4)."""
    alpha, x0 = 0.05, 1.0
    land = Quadratic(eigenvalues=[lam])
    name = "nesterov" if nesterov else "momentum"
    run = sim.iterate(land, sim.optimizer(name, lr=alpha, momentum=beta), np.array([x0]), 60)
    if nesterov:
        poly = [1, -(1 + beta) * (1 - alpha * lam), beta * (1 - alpha * lam)]
        x1 = x0 - alpha * (1 + beta) * lam * x0
    else:
        poly = [1, -(1 + beta - alpha * lam), beta]
        x1 = x0 - alpha * lam * x0
    z1, z2 = np.roots(poly).astype(complex)
    c1, c2 = np.linalg.solve([[1, 1], [z1, z2]], [x0, x1])
    k = np.arange(61)
    exact = (c1 * z1**k + c2 * z2**k).real
    np.testing.assert_allclose(run.x[:, 0], exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, beta, threshold", [
    ("gd", 0.0, 2.0),                          # lr·λ < 2
    ("momentum", 0.5, 2 * 1.5),                # lr·λ < 2(1+β)
    ("nesterov", 0.5, (2 + 2 * 0.5) / (1 + 2 * 0.5)),  # lr·λ < (2+2β)/(1+2β)
])
def test_stability_threshold_on_a_quadratic(name, beta, threshold):
    lam = 10.0
    land = Quadratic(eigenvalues=[1.0, lam])
    kw = {} if name == "gd" else {"momentum": beta}
    below = sim.iterate(land, sim.optimizer(name, lr=0.97 * threshold / lam, **kw), X0, 3000)
    above = sim.iterate(land, sim.optimizer(name, lr=1.03 * threshold / lam, **kw), X0, 3000)
    assert below.status == CONVERGED and below.diverged_at == -1
    assert above.status == DIVERGED and above.diverged_at > 0


# -- failure is data ----------------------------------------------------------------------------------
def test_messages_say_how_each_member_ended_and_survive_subsampling_and_saving(tmp_path):
    run = sim.iterate(Q, sim.optimizer("gd", lr=[0.1, 0.25, 0.001]), X0, 400)
    assert run.message[0].startswith("converged: |grad f| = ") and run.message[0].endswith("<= 1e-08")
    assert run.message[1] == f"diverged at step {run.diverged_at[1]}"
    assert run.message[2].startswith("running: |grad f| = ") and run.message[2].endswith("> 1e-08")
    assert list(run.every(3).message) == list(run.message)  # the step, not the sample index
    back = sim.Trajectory.load(run.save(tmp_path / "r.npz"))
    assert list(back.message) == list(run.message)
    single = sim.iterate(Q, "gd(lr=0.25)", X0, 400)
    assert isinstance(single.message, str) and single.message.startswith("diverged at step")


def test_divergence_is_recorded_not_raised_and_not_clipped():
    run = sim.iterate(Q, sim.optimizer("gd", lr=[0.1, 0.25]), X0, 400)  # 0.25·10 > 2: member 1 diverges
    assert run.t.shape == (401, 2) and run.x.shape == (401, 2, 2)
    assert list(run.status) == [CONVERGED, DIVERGED]
    k = run.diverged_at[1]
    assert 0 < k < 400 and run.message[1] == f"diverged at step {k}"
    assert np.linalg.norm(run.x[k, 1]) > run.stats["escape_radius"]  # the value that triggered it, unclipped
    assert np.all(np.isfinite(run.x[:k + 1, 1])) and np.all(np.isnan(run.x[k + 1:, 1]))
    # the diverging member does not disturb the other one
    np.testing.assert_allclose(run.x[:, 0], sim.iterate(Q, sim.optimizer("gd", lr=0.1), X0, 400).x, rtol=1e-13, atol=1e-15)


def test_overflow_to_inf_is_divergence_without_warnings():
    run = sim.iterate("rosenbrock", sim.optimizer("gd", lr=1.0), np.array([3.0, -3.0]), 50, escape_radius=np.inf)
    assert run.status == DIVERGED and not np.all(np.isfinite(run.x[run.diverged_at]))


def test_escaping_flow_stops_at_the_event():
    saddle = Quadratic(eigenvalues=[1.0, -1.0])  # unstable in x₂
    flow = sim.integrate(saddle, "gd", np.array([1.0, 1e-3]), t=np.linspace(0, 30, 301))
    assert flow.status == DIVERGED and flow.message.startswith("diverged")
    k = flow.diverged_at
    assert 0 < k < 301
    assert np.all(np.isfinite(flow.x[:k])) and np.all(np.isnan(flow.x[k:]))
    escape_time = float(flow.message.split("t = ")[1])
    radius = flow.stats["escape_radius"]
    assert escape_time == pytest.approx(np.log(radius / 1e-3), rel=1e-4)  # x₂ = 1e-3·eᵗ


@dataclass(frozen=True, eq=False)
class Cliff(Landscape):
    """f = ½|x|² for x₁ > 0.5, undefined (NaN) beyond: from (1, 0) the flow e⁻ᵗ meets it at t = ln 2."""

    name = "cliff"

    def __post_init__(self):
        object.__setattr__(self, "dim", 2)
        object.__setattr__(self, "bounds", [[-1, 1], [-1, 1]])
        object.__setattr__(self, "minima", np.zeros((0, 2)))
        object.__setattr__(self, "default_start", [1.0, 0.0])
        super().__post_init__()

    def _value(self, x):
        return np.where(x[..., 0] > 0.5, 0.5 * np.sum(x**2, axis=-1), np.nan)

    def _grad(self, x):
        return np.where(x[..., :1] > 0.5, x, np.nan)

    def _hess(self, x):
        return np.where(x[..., :1, None] > 0.5, np.eye(2), np.nan)


@pytest.mark.parametrize("method", ["RK45", "LSODA", "Radau"])
def test_a_flow_that_runs_into_nan_is_reported_not_raised(method):
    """RK45/Radau give up ("solver failed" with scipy's message); LSODA may return NaN samples with
    success, which integrate catches and reports as a non-finite (diverged) state."""
    flow = sim.integrate(Cliff(), "gd", t=np.linspace(0, 2, 41), method=method)
    assert (int(flow.status), flow.message.split(" at ")[0]) in ((FAILED, "solver failed"),
                                                                  (DIVERGED, "diverged: non-finite state"))
    reached = int(np.sum(np.all(np.isfinite(flow.x), axis=-1)))
    assert 0 < reached <= 15 and np.all(np.isnan(flow.x[reached:]))  # the cliff is at t = ln 2 ≈ 0.69
    np.testing.assert_allclose(flow.x[:reached, 0], np.exp(-flow.t[:reached]), rtol=1e-6)


# -- the continuous models ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", OPTIMIZERS_UNDER_TEST, ids=case_id)
def test_jacobian_equals_finite_differences_of_the_field(case, rng):
    opt = sim.optimizer(case[0], **case[1])
    land = sim.landscape("rosenbrock")
    state = opt.init(rng.normal(size=2))
    for name in state:
        state[name] = rng.normal(size=2) if name in ("x", "m", "b", "gbar") else rng.uniform(0.5, 2.0, size=2)
    if "gbar" in state:
        state["gbar"] *= 0.3  # keep v − ḡ² > 0
    names, y = tuple(state), pack(state)
    t = 3 * float(opt.time_per_step)
    J = opt.jacobian(t, state, land)
    fd = np.empty_like(J)
    for j in range(y.size):
        e = np.zeros_like(y)
        e[j] = 1e-6 * max(1.0, abs(y[j]))
        fd[:, j] = (pack(opt.field(t, unpack(y + e, names), land)) - pack(opt.field(t, unpack(y - e, names), land))) / (2 * e[j])
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-6 * np.max(np.abs(fd)))


def test_implicit_solvers_use_the_analytic_jacobian(monkeypatch):
    calls = []
    # Gradient flow on λ = 1, 1e4 is stiff (LSODA asks for a Jacobian only once it detects stiffness).
    # Not heavy ball: its lift there is a fast oscillator (√(λ/lr) rad per unit time), not stiff.
    opt = sim.optimizer("gd", lr=1e-3)
    stiff = Quadratic(eigenvalues=[1.0, 1e4])
    original = type(opt).jacobian
    monkeypatch.setattr(type(opt), "jacobian", lambda self, *a: calls.append(1) or original(self, *a))
    for method in ("Radau", "BDF", "LSODA"):
        calls.clear()
        flow = sim.integrate(stiff, opt, X0, steps=1000, method=method)
        assert calls and flow.stats["njev"] > 0, method
        assert flow.status == RUNNING and np.all(np.isfinite(flow.x))
    calls.clear()
    sim.integrate(stiff, opt, X0, steps=10, method="RK45")
    assert not calls


def test_adam_flow_is_regular_at_zero_and_approached_by_the_iterates():
    """κ = t/lr + 1 keeps the bias-corrected field regular at t = 0 (ẋ(0) = 0: m starts at 0).

    With 1 − β₁ = 10·lr and 1 − β₂ = lr the iterates approach their lift as lr shrinks. The observed
    slope is below 1 (measured 0.77 over lr = 4e-3…5e-4, rising slowly): the bias correction varies
    on the time scale lr near t = 0, which adds an lr·log(1/lr)-like term.
    """
    opt = sim.optimizer("adam", lr=1e-3)
    field0 = opt.field(0.0, opt.flow_init(X0, Q), Q)
    assert np.all(np.isfinite(field0["x"])) and np.all(field0["x"] == 0)
    lrs = np.array([4e-3, 2e-3, 1e-3, 5e-4])
    errs = []
    for lr in lrs:
        opt = sim.optimizer("adam", lr=lr, betas=(1 - 10 * lr, 1 - lr))
        run = sim.iterate(Q, opt, X0, int(round(0.4 / lr)))
        errs.append(sim.compare(run, sim.integrate(Q, opt, X0, t=run.t, rtol=1e-11, atol=1e-13)).max)
    assert np.all(np.diff(errs) < 0)
    assert 0.7 < linregress(np.log(lrs), np.log(errs)).slope < 1.05


# -- batches and comparison ----------------------------------------------------------------------------
def test_batched_integrate_equals_member_solves_and_keeps_per_member_times():
    opt = sim.optimizer("momentum", lr=[0.01, 0.02, 0.04], momentum=[0.5, 0.9, 0.0])
    flow = sim.integrate(Q, opt, X0, steps=50)
    assert flow.t.shape == (51, 3) and flow.x.shape == (51, 3, 2)
    for i in range(3):
        one = sim.integrate(Q, opt.member(i), X0, steps=50)
        np.testing.assert_array_equal(flow.t[:, i], one.t)
        np.testing.assert_allclose(flow.x[:, i], one.x, rtol=1e-12, atol=1e-14)


def test_batch_of_starts_has_time_first_shapes():
    starts = np.array([[1.0, 1.0], [-1.0, 0.5], [0.3, -2.0]])
    run = sim.iterate(Q, "adam", starts, 10)
    flow = sim.integrate(Q, "adam", starts, steps=10)
    assert run.x.shape == flow.x.shape == (11, 3, 2) and run.t.shape == (11,)
    assert run.status.shape == run.diverged_at.shape == run.message.shape == (3,)
    c = sim.compare(run, flow)
    np.testing.assert_allclose(c.distance, np.linalg.norm(run.x - flow.x, axis=-1))
    np.testing.assert_array_equal(c.final, c.distance[-1])
    np.testing.assert_array_equal(c.max, c.distance.max(axis=0))


def test_compare_refuses_different_times_and_reports_inf_after_divergence():
    run = sim.iterate(Q, sim.optimizer("gd", lr=[0.1, 0.25]), X0, 100)
    flow = sim.integrate(Q, sim.optimizer("gd", lr=[0.1, 0.25]), X0, t=run.t)
    c = sim.compare(run, flow)
    assert np.isfinite(c.max[0]) and c.max[1] == np.inf
    with pytest.raises(ValueError, match="different times"):
        sim.compare(run, sim.integrate(Q, sim.optimizer("gd", lr=[0.1, 0.25]), X0, t=run.t * 2))


# -- bad input to iterate/integrate ---------------------------------------------------------------------
@pytest.mark.parametrize("call, match", [
    (lambda: sim.iterate(Q, "gd", [1.0, 2.0, 3.0], 5), "3 coordinates.*2-dimensional"),
    (lambda: sim.iterate(Q, "gd", [np.nan, 1.0], 5), "finite"),
    (lambda: sim.iterate(Q, "gd", X0, -1), "steps"),
    (lambda: sim.iterate("rosenbruck", "gd", X0, 5), "Did you mean 'rosenbrock'"),
    (lambda: sim.integrate(Q, "gd", X0, steps=5, method="RK4"), "method"),
    (lambda: sim.integrate(Q, "gd", X0, t=[0.0, 2.0, 1.0]), "non-decreasing"),
    (lambda: sim.integrate(Q, "gd", X0), "t or a number of steps"),
    (lambda: sim.integrate(Q, "gd", X0, steps=5, rtol=0), "rtol"),
    (lambda: sim.iterate(Q, sim.optimizer("gd", lr=[0.1, 0.2]), np.zeros((3, 2)), 5), "broadcast"),
])
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- found by trying the tool as a new user -------------------------------------------------------------
def test_a_start_outside_the_escape_ball_diverges_at_sample_zero_for_both_views():
    far = np.array([1e8, 1.0])
    run = sim.iterate("himmelblau", "momentum", far, 50)
    flow = sim.integrate("himmelblau", "momentum", far, steps=50)
    assert run.diverged_at == 0 and flow.diverged_at == 0
    assert flow.message == "diverged: the start is outside"
    np.testing.assert_array_equal(run.x[0], far)  # the start itself is kept
    assert np.all(np.isnan(run.x[1:])) and np.all(np.isnan(flow.x))


def test_iterate_stops_once_every_member_has_diverged():
    calls = []

    class Counting(Quadratic):
        def _grad(self, x):
            calls.append(1)
            return super()._grad(x)

    land = Counting(eigenvalues=[1.0, 10.0])
    run = sim.iterate(land, sim.optimizer("gd", lr=[0.5, 1.0]), X0, 100_000)
    assert list(run.status) == [DIVERGED, DIVERGED]
    assert len(calls) < 100 + 5  # not 100,000 steps of NaN (a few extra for the final status)
    assert run.x.shape == (100_001, 2, 2) and np.all(np.isnan(run.x[200:]))


def test_a_runaway_solve_stops_at_its_evaluation_budget_and_keeps_its_samples():
    flow = sim.integrate("rosenbrock", "momentum", [3.0, -3.0], steps=2000, max_evaluations=5000)
    assert flow.status == FAILED and "more than 5000 field evaluations" in flow.message
    reached = int(np.sum(np.all(np.isfinite(flow.x), axis=-1)))
    assert 0 < reached < 2001 and np.all(np.isnan(flow.x[reached:]))
    full = sim.integrate("rosenbrock", "momentum", [3.0, -3.0], t=flow.t[:reached])
    np.testing.assert_allclose(flow.x[:reached], full.x, rtol=1e-6, atol=1e-8)
