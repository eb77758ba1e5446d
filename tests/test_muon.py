"""Muon: torch.optim.Muon step for step (bf16 Newton–Schulz emulated bit for bit), the float64 lift's
Euler identity, the spectral steepest-descent identity of the limit flow, and the vector reduction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz

torch.set_num_threads(1)  # small matrices: threads only contend

import simulate as sim
from helpers import central_difference, run_steps
from simulate.landscapes.builtin import Rosenbrock
from simulate.models import flow
from simulate.optimizers.muon import NS_COEFFICIENTS, msign, newton_schulz, newton_schulz_bf16, newton_schulz_derivative
from simulate.solvers.continuous import euler_step


@dataclass(frozen=True, eq=False)
class TallRosenbrock(Rosenbrock):
    """Rosenbrock with its point read as a 2×1 column (torch transposes it inside NS)."""

    matrix_shapes = ((2, 1),)


@dataclass(frozen=True, eq=False)
class RowRosenbrock(Rosenbrock):
    matrix_shapes = ((1, 2),)


def torch_muon(land, x0, steps, **kw):
    """torch.optim.Muon in float64, one parameter per matrix block, fed the landscape's gradient."""
    shapes = land.matrix_shapes or ((1, land.dim),)
    sizes = np.cumsum([0] + [r * c for r, c in shapes])
    params = [torch.nn.Parameter(torch.tensor(np.asarray(x0, float)[a:b].reshape(s), dtype=torch.float64))
              for a, b, s in zip(sizes[:-1], sizes[1:], shapes)]
    opt = torch.optim.Muon(params, **kw)
    xs = []
    for _ in range(steps):
        x = np.concatenate([p.detach().numpy().ravel() for p in params])
        g = land.grad(x)
        for p, a, b in zip(params, sizes[:-1], sizes[1:]):
            p.grad = torch.tensor(g[a:b].reshape(p.shape), dtype=torch.float64)
        opt.step()
        xs.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    return np.array(xs)


CONFIGS = [dict(), dict(lr=0.02), dict(lr=0.05, weight_decay=0.0, nesterov=False),
           dict(lr=0.01, momentum=0.5, adjust_lr_fn="match_rms_adamw"), dict(lr=0.03, ns_steps=3, eps=1e-3),
           dict(lr=0.02, ns_coefficients=(2.0, -1.5, 0.5), adjust_lr_fn="original", weight_decay=0.5)]
LANDS = {"1x2": (sim.landscape("rosenbrock"), [-1.2, 1.0]), "row": (RowRosenbrock(), [-1.2, 1.0]),
         "2x1": (TallRosenbrock(), [-1.2, 1.0]), "2x2": (sim.landscape("matrix-sensing", m=2, n=2, measurements=6), None),
         "2x3": (sim.landscape("matrix-sensing"), None), "3x3": (sim.landscape("matrix-sensing", m=3, n=3, rank=2), None),
         "3x2": (sim.landscape("matrix-sensing", m=3, n=2), None), "factorization": (sim.landscape("matrix-factorization"), None),
         "linear-net": (sim.landscape("linear-net"), None)}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "defaults")
@pytest.mark.parametrize("shape", list(LANDS))
def test_agrees_with_torch_muon_bit_for_bit(shape, config):
    land, x0 = LANDS[shape]
    x0 = land.default_start if x0 is None else np.array(x0)
    ours = run_steps(sim.optimizer("muon", **config), land, x0, 60)
    ref = torch_muon(land, x0, 60, **config)
    np.testing.assert_array_equal(ours, ref)


def test_newton_schulz_emulation_is_torchs_bits_on_random_matrices():
    rng = np.random.default_rng(3)
    for shape in [(1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3), (4, 4), (1, 5)]:
        u = rng.standard_normal((150,) + shape) * 10.0 ** rng.uniform(-3, 3, size=(150, 1, 1))
        ref = np.array([_zeropower_via_newtonschulz(torch.tensor(m), NS_COEFFICIENTS, 5, 1e-7).double().numpy()
                        for m in u])
        np.testing.assert_array_equal(newton_schulz_bf16(u), ref)  # batched: every member its own bits


def test_without_emulation_the_iterates_drift_from_torch():
    """The emulation matters: float64 NS is off by far more than rounding (theory: up to 4e-2)."""
    land, x0 = sim.landscape("rosenbrock"), np.array([-1.2, 1.0])
    ref = torch_muon(land, x0, 50, lr=0.05)
    ours = run_steps(sim.optimizer("muon", lr=0.05, newton_schulz="float64"), land, x0, 50)
    assert np.max(np.abs(ours - ref)) > 1e-4


def test_float64_ns_is_u_phi_sigma_v_and_exact_msign_is_the_polar_factor(rng):
    u = rng.standard_normal((5, 3, 4))
    U, s, Vt = np.linalg.svd(u, full_matrices=False)
    a, b, c = NS_COEFFICIENTS
    sig = s / np.linalg.norm(u, axis=(-2, -1))[:, None]
    for _ in range(5):
        sig = a * sig + b * sig**3 + c * sig**5
    np.testing.assert_allclose(newton_schulz(u), (U * sig[:, None, :]) @ Vt, atol=1e-13)
    O = msign(u)
    np.testing.assert_allclose(O @ np.swapaxes(O, -1, -2), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-13)
    np.testing.assert_allclose(np.einsum("bij,bij->b", u, O), s.sum(-1), rtol=1e-13)  # ⟨u, msign u⟩ = ‖u‖_*


# -- the exact lift -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["float64", "exact"])
@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.02, nesterov=False, weight_decay=0.3, momentum=0.8),
                                dict(lr=0.01, adjust_lr_fn="match_rms_adamw")])
def test_one_step_is_one_semi_implicit_euler_step_of_the_lift(mode, kw):
    land = sim.landscape("matrix-factorization", m=3, n=2, r=2)
    opt = sim.optimizer("muon", newton_schulz=mode, **kw)
    x0 = land.default_start
    discrete = run_steps(opt, land, x0, 60)
    state, worst = opt.flow_init(x0, land), 0.0
    for k in range(1, 61):
        state = euler_step(land, opt, state, k)
        worst = max(worst, float(np.max(np.abs(state["x"] - discrete[k - 1]))))
    # rounding only, amplified by NS (slope up to a⁵ ≈ 480 at small singular values): measured ≤ 2.3e-13
    assert worst <= 1e-12 * np.max(np.abs(discrete)), worst


def test_with_bf16_the_euler_step_is_off_by_the_rounding_of_o():
    land = sim.landscape("matrix-sensing")
    opt = sim.optimizer("muon", lr=0.01)
    state = opt.init(land.default_start)
    for k in range(1, 6):
        state = opt.step(state, land, k)
    a, b = opt.step(state, land, 6)["x"], euler_step(land, opt, state, 6)["x"]
    # the step is lr·s·O, O = φ(Σ)-ish of size ~1; bf16 keeps 8 bits
    assert 0 < np.max(np.abs(a - b)) <= 0.01 * 2.0**-7 * 2


def test_lift_is_approached_at_order_one_with_float64_ns():
    land = sim.landscape("matrix-sensing")
    res = sim.order(land, sim.optimizer("muon", lr=0.02, newton_schulz="float64"), flow="exact", horizon=0.4,
                    rungs=4)
    assert res.observed_order == pytest.approx(1.0, abs=0.15)


# -- the limit flow ---------------------------------------------------------------------------------------
def test_spectral_steepest_descent_identity_along_the_flow():
    """wd = 0, exact msign: df/dt = −s‖∇f‖_* (nuclear norm, block by block), in integral form. (On the
    factorizations a block gradient's smallest singular value tends to 0 and msign switches: there the
    flow slides, and the exact field stalls an adaptive solver.)"""
    land = sim.landscape("matrix-sensing")
    opt = sim.optimizer("muon", lr=0.01, weight_decay=0.0, newton_schulz="exact")
    T = 0.5
    traj = sim.integrate(land, opt, land.default_start, steps=50, flow="limit", rtol=1e-11, atol=1e-13)
    t, x = np.asarray(traj.t), np.asarray(traj.x)
    blocks = land.blocks(land.grad(x))
    s = [opt.lr_ratio(b.shape[-2:]) for b in blocks]
    rate = sum(si * np.linalg.svd(b, compute_uv=False).sum(-1) for si, b in zip(s, blocks))
    f = land.value(x)
    # Simpson on the dense output: f(t) − f(0) = −∫ s‖∇f‖_* dt
    from scipy.integrate import cumulative_simpson

    integral = cumulative_simpson(rate, x=t, initial=0.0)
    assert t[-1] == pytest.approx(T)
    np.testing.assert_allclose(f - f[0], -integral, atol=1e-7 * f[0])


def test_limit_flow_is_declared_discontinuous_and_smooths_the_polar_factor():
    opt = sim.optimizer("muon", newton_schulz="exact", weight_decay=0.0)
    model = flow(opt, "limit")
    assert model.discontinuous
    land = sim.landscape("matrix-sensing")
    x = land.default_start
    exact = model.field(0.0, {"x": x}, land)["x"]
    smooth = model.smoothed(1e-9).field(0.0, {"x": x}, land)["x"]
    np.testing.assert_allclose(smooth, exact, atol=1e-12)
    assert np.max(np.abs(model.smoothed(10.0).field(0.0, {"x": x}, land)["x"])) < 0.5 * np.max(np.abs(exact))


def test_smoothed_newton_schulz_is_continuous_at_zero_and_its_derivative_is_forward_mode_exact():
    """NS is scale-invariant, so it jumps at u = 0 (every minimum of f, for the limit flow); smoothed, it
    normalizes by √(‖u‖_F² + δ²) and tends to 0 there. The forward-mode derivative is NS's derivative."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal((2, 3, 2))
    for scale in (1e-2, 1e-4, 1e-6):  # plain (‖u‖ > eps): the same O(1) matrix at every scale; smoothed: → 0
        np.testing.assert_allclose(newton_schulz(scale * u), newton_schulz(u), rtol=1e-9, atol=1e-12)
        small = np.max(np.abs(newton_schulz(scale * u, delta=1.0)))  # φ(σ/δ) ≈ a⁵σ/δ (a⁵ = 487), ‖u‖_F < 3
        assert 1e-3 * scale < small < 1500 * scale
    np.testing.assert_allclose(newton_schulz(u, delta=1e-9), newton_schulz(u), rtol=1e-12, atol=1e-14)
    for delta in (0.0, 0.5):
        D = newton_schulz_derivative(u, np.eye(6).reshape(6, 1, 3, 2), delta=delta)  # along each entry
        flat = lambda v: newton_schulz(v.reshape(2, 3, 2), delta=delta).reshape(2, 6)  # noqa: E731
        fd = central_difference(flat, u.reshape(2, 6))  # (2, 6 out, 6 in)
        np.testing.assert_allclose(np.moveaxis(D.reshape(6, 2, 6), 0, -1), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["matrix-factorization", "linear-net"])
def test_the_float64_limit_flows_jacobian_is_its_fields_derivative(name):
    land = sim.landscape(name)
    model = flow(sim.optimizer("muon", lr=0.02), "limit")
    assert model.has_jacobian and not flow(sim.optimizer("muon", newton_schulz="exact"), "limit").has_jacobian
    x = land.default_start + 0.1 * np.random.default_rng(1).standard_normal((2, land.dim))
    for m in (model, model.smoothed(0.3)):
        np.testing.assert_allclose(m.jacobian(0.0, {"x": x}, land),
                                   central_difference(lambda z: m.field(0.0, {"x": z}, land)["x"], x),
                                   rtol=1e-6, atol=1e-7)


# -- vectors ----------------------------------------------------------------------------------------------
def test_on_a_vector_muon_is_normalized_gd_with_momentum_and_step_lr_s_phi_of_one():
    land = sim.landscape("rosenbrock")
    opt = sim.optimizer("muon", lr=0.01, newton_schulz="float64", weight_decay=0.2)
    a, b, c = NS_COEFFICIENTS
    phi = 1.0
    for _ in range(5):
        phi = a * phi + b * phi**3 + c * phi**5
    assert phi == pytest.approx(0.69644, abs=1e-5)
    x, buf = np.array([-1.2, 1.0]), np.zeros(2)
    xs = run_steps(opt, land, x, 40)
    for k in range(40):
        g = land.grad(x)
        buf = buf + 0.05 * (g - buf)
        u = 0.05 * g + 0.95 * buf
        x = x * (1 - 0.01 * 0.2) - 0.01 * phi * u / np.linalg.norm(u)
        np.testing.assert_allclose(xs[k], x, rtol=1e-13, atol=1e-15)


def test_batches_hyperparameter_arrays_and_errors():
    land = sim.landscape("matrix-factorization")
    lrs = np.array([0.01, 0.02, 0.05])
    together = run_steps(sim.optimizer("muon", lr=lrs), land, land.default_start, 10)
    for i, lr in enumerate(lrs):
        np.testing.assert_array_equal(together[:, i], run_steps(sim.optimizer("muon", lr=lr), land, land.default_start, 10))
    with pytest.raises(ValueError, match="adjust_lr_fn"):
        sim.optimizer("muon", adjust_lr_fn="none")
    with pytest.raises(ValueError, match="newton_schulz"):
        sim.optimizer("muon", newton_schulz="float32")
    with pytest.raises(ValueError, match="ns_coefficients"):
        sim.optimizer("muon", ns_coefficients=(1.0, 2.0))
    with pytest.raises(ValueError, match="ns_steps"):
        sim.optimizer("muon", ns_steps=100)
    with pytest.raises(ValueError, match="momentum"):
        sim.optimizer("muon", momentum=1.0)
    opt = sim.optimizer("muon(lr=0.01, adjust_lr_fn='match_rms_adamw', newton_schulz=exact)")
    assert sim.optimizer(opt.spec) == opt


def test_noisy_gradients_keep_the_blocks():
    """Under noise the landscape is wrapped: Muon still orthogonalizes its blocks, not one 1×d row
    (noise of 1e-200 rounds away, so the run is the exact one)."""
    land = sim.landscape("matrix-factorization")
    opt = sim.optimizer("muon", lr=0.02)
    exact = sim.iterate(land, opt, land.default_start, 5)
    noisy = sim.iterate(land, opt, land.default_start, 5, noise=1e-200, seed=1)
    np.testing.assert_array_equal(noisy.x, exact.x)


def test_a_sweep_integrates_muons_flow_with_its_one_eps():
    # eps is one number (not a sweep axis): the per-cell flows take it as it is, not broadcast to the grid
    s = sim.sweep("rosenbrock", "muon", ["lr=1e-3:1e-2:2:log"], steps=10, flow="exact")
    assert np.all(np.isfinite(s.metrics["flow_distance"][0]))  # the iterates' distance to each cell's flow
