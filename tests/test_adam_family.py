"""NAdam, RAdam, Adamax and Adadelta (theory §10.1, §10.2): torch.optim step for step, their exact
lifts (one step = one semi-implicit Euler step), their limits, and Adadelta's step clock."""

import numpy as np
import pytest
import torch

import simulate as sim
from simulate.analysis.order import fit_order
from simulate.models import flow
from simulate.solvers.continuous import euler_step

from helpers import case_id, central_difference, run_steps, sign_flow_errors, torch_iterates

TORCH = {"nadam": torch.optim.NAdam, "radam": torch.optim.RAdam, "adamax": torch.optim.Adamax,
         "adadelta": torch.optim.Adadelta}

# Every structural branch, and non-default values of every hyperparameter.
CASES = [
    ("nadam", dict(lr=0.01)),
    ("nadam", dict(lr=0.003, weight_decay=0.1)),
    ("nadam", dict(lr=0.01, weight_decay=0.3, decoupled_weight_decay=True, betas=(0.8, 0.99), momentum_decay=0.02,
                   eps=1e-3)),
    ("nadam", dict(lr=0.005, betas=(0.0, 0.9), momentum_decay=0.0)),
    ("radam", dict(lr=0.001)),
    ("radam", dict(lr=0.003, weight_decay=0.1)),
    ("radam", dict(lr=0.002, weight_decay=0.3, decoupled_weight_decay=True, betas=(0.8, 0.99), eps=1e-3)),
    ("radam", dict(lr=0.005, betas=(0.5, 0.9))),
    ("adamax", dict(lr=0.01)),
    ("adamax", dict(lr=0.003, weight_decay=0.1)),
    ("adamax", dict(lr=0.01, weight_decay=0.3, betas=(0.8, 0.99), eps=1e-3)),
    ("adamax", dict(lr=0.02, betas=(0.0, 0.5))),
    ("adadelta", dict()),
    ("adadelta", dict(lr=0.1, weight_decay=0.1)),
    ("adadelta", dict(lr=0.5, rho=0.5, eps=1e-3)),
    ("adadelta", dict(lr=0.01, rho=0.99, eps=1e-8, weight_decay=0.01)),
    ("adadelta", dict(lr=0.001, rho=1.0)),
]

LANDS = {"quadratic": (sim.landscape("quadratic(eigenvalues=(1, 30), angle=0.4)"), np.array([1.3, -0.7])),
         "rosenbrock": (sim.landscape("rosenbrock"), np.array([-1.2, 1.0])),
         "himmelblau": (sim.landscape("himmelblau"), np.array([0.5, -1.0]))}


@pytest.fixture(scope="module", autouse=True)
def float64_default():
    """torch keeps NAdam's mu_product (a 0-d tensor of the default dtype) in float32 unless the
    default dtype is float64 (theory §10, the float64 pitfall)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


# -- torch.optim, step for step ----------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("land_name", list(LANDS))
def test_agrees_with_torch_optim_to_rounding(case, land_name):
    """150 steps. torch's CPU lerp and addcmul fuse the multiply-add (one rounding), the package's
    kernels do not: the two may differ in the last bit of a step (measured: most runs bitwise equal,
    the rest within 3e-15 relative)."""
    name, kw = case
    land, x0 = LANDS[land_name]
    ours = run_steps(sim.optimizer(name, **kw), land, x0, 150)
    ref = torch_iterates(TORCH[name], kw, land, x0, 150)
    assert np.max(np.abs(ours - ref)) <= 1e-13 * np.max(np.abs(ref)), np.max(np.abs(ours - ref))


def test_nadam_needs_the_float64_default_for_its_mu_product():
    land, x0 = LANDS["rosenbrock"]
    ours = run_steps(sim.optimizer("nadam", lr=0.01), land, x0, 50)
    torch.set_default_dtype(torch.float32)
    try:
        single = torch_iterates(TORCH["nadam"], dict(lr=0.01), land, x0, 50)
    finally:
        torch.set_default_dtype(torch.float64)
    assert 1e-14 < np.max(np.abs(ours - single)) < 1e-8  # float32 Π: off beyond rounding


# -- first steps and closed forms -------------------------------------------------------------------
def test_nadam_first_step_and_momentum_schedule():
    land, x0 = LANDS["quadratic"]
    g = land.grad(x0)
    opt = sim.optimizer("nadam", lr=0.01)
    mu1, mu2, c2 = (float(np.asarray(c)) for c in opt._schedule(1))
    assert mu1 == pytest.approx(0.45007, abs=1e-5) and c2 == pytest.approx(1e-3)
    # Π = μ₁ gives g the weight 1; m = (1 − β₁)g, v/(1 − β₂) = g²
    x1 = x0 - 0.01 * (1 + mu2 * 0.1 / (1 - mu1 * mu2)) * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(run_steps(opt, land, x0, 1)[0], x1, rtol=1e-14)
    state = opt.step(opt.init(x0), land, 1)
    np.testing.assert_array_equal(state["mu_product"], mu1)
    # μ reaches β₁ on 1/(ψ ln(1/0.96)) ≈ 6100 steps
    mu = np.asarray(opt._schedule(np.array([6123]))[0])
    assert (0.9 - mu) / (0.9 - mu1) == pytest.approx(np.exp(-1), rel=1e-3)


def test_nadam_lift_product_is_the_running_product_at_every_step():
    opt = sim.optimizer("nadam", betas=(0.95, 0.999), momentum_decay=0.01)
    state = opt.init(np.ones(1))
    land = sim.landscape("quadratic", eigenvalues=[1.0], dim=1)
    for k in range(1, 3001):
        state = opt.step(state, land, k)
        if k in (1, 2, 7, 100, 3000):
            assert float(opt._product(float(k))) == float(state["mu_product"][0])
    between = opt._product(np.array([2.5]))
    assert opt._product(3.0) < between < opt._product(2.0)


def test_radam_is_momentum_sgd_for_five_steps_then_rectified():
    opt = sim.optimizer("radam", lr=1e-3)
    rectified = np.asarray(opt._schedule(np.arange(1, 8))[3])
    np.testing.assert_array_equal(rectified, [0, 0, 0, 0, 0, 1, 1])
    land, x0 = LANDS["quadratic"]
    xs = run_steps(sim.optimizer("radam", lr=1e-3, betas=(0.0, 0.999)), land, x0, 5)
    x = x0
    for k in range(5):  # β₁ = 0: m̂ = g, plain GD
        x = x - 1e-3 * land.grad(x)
        np.testing.assert_allclose(xs[k], x, rtol=1e-15)


def test_adamax_infinity_norm_has_its_closed_form():
    """u_k = max_j β₂^(k−j)(|g_j| + ε) (theory §10.1)."""
    land, x0 = LANDS["himmelblau"]
    opt = sim.optimizer("adamax", lr=0.02, betas=(0.9, 0.9), eps=1e-3)
    state, gs = opt.init(x0), []
    for k in range(1, 61):
        gs.append(np.abs(land.grad(state["x"])) + 1e-3)
        state = opt.step(state, land, k)
    closed = np.max([0.9 ** (60 - j) * gj for j, gj in enumerate(gs, start=1)], axis=0)
    np.testing.assert_allclose(state["u"], closed, rtol=1e-14)


def test_adadelta_first_step():
    land, x0 = LANDS["quadratic"]
    g = land.grad(x0)
    x1 = run_steps(sim.optimizer("adadelta"), land, x0, 1)[0]
    np.testing.assert_allclose(x1, x0 - np.sqrt(1e-6) / np.sqrt(0.1 * g * g + 1e-6) * g, rtol=1e-15)


# -- the exact lifts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_one_step_is_one_semi_implicit_euler_step_of_the_lift(case):
    """Iterating the Euler step of the field from the lift's start reproduces the steps to rounding
    (Adadelta: on its step clock, h = 1)."""
    opt = sim.optimizer(case[0], **case[1])
    for land, x0 in LANDS.values():
        # 120 steps: later, where a sign-like step chatters about a valley floor, the last bits of
        # the two roundings are amplified (measured on rosenbrock: 3e-13 at step 120, 1e-5 at 150)
        discrete = run_steps(opt, land, x0, 120)
        state = opt.flow_init(x0, land)
        for k in range(1, 121):
            state = euler_step(land, opt, state, k)
            np.testing.assert_allclose(state["x"], discrete[k - 1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_euler_step_from_the_discrete_state_matches_each_step(case, rng):
    """From the same state (a batch of them), at early and late step indices."""
    opt = sim.optimizer(case[0], **case[1])
    land = LANDS["quadratic"][0]
    state = opt.init(rng.normal(size=(5, 2)))
    for k in range(1, 4):
        state = opt.step(state, land, k)
    lifted = opt.lift_state_names()
    for k in (4, 9, 30, 2000):
        if "mu_product" in state:  # NAdam's Π is that of the step before k
            state = {**state, "mu_product": np.broadcast_to(opt._product(float(k - 1)), (5, 2))}
        a, b = opt.step(state, land, k), euler_step(land, opt, {n: state[n] for n in lifted}, k)
        for key in lifted:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-13, atol=1e-15, err_msg=key)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "adadelta"], ids=case_id)
def test_lift_jacobian_equals_differences_of_the_field(case, rng):
    opt = sim.optimizer(case[0], **case[1])
    land = LANDS["himmelblau"][0]
    names = opt.lift_state_names()
    state = {n: rng.uniform(0.5, 2.0, size=2) for n in names}
    t = 7.3 * float(opt.time_per_step)
    J = opt.jacobian(t, state, land)
    for j, (name, i) in enumerate((n, i) for n in names for i in range(2)):
        plus, minus = ({**state, name: state[name] + s * 1e-6 * np.eye(2)[i]} for s in (1, -1))
        column = np.concatenate([(opt.field(t, plus, land)[n] - opt.field(t, minus, land)[n]) / 2e-6 for n in names])
        np.testing.assert_allclose(J[:, j], column, rtol=1e-5, atol=1e-5 * np.max(np.abs(J)))


def test_lift_starts_regular():
    """NAdam's Π is a function of the step (Π_1 = μ_1 at t = 0, no 1/(1 − Π) blow-up); Adamax's
    m/((1 − β₁^κ)u) takes its limit g/(|g| + ε) at u = 0."""
    land, x0 = LANDS["quadratic"]
    g = land.grad(x0)
    for name in ("nadam", "radam", "adamax", "adadelta"):
        opt = sim.optimizer(name)
        dx = opt.field(0.0, opt.flow_init(x0, land), land)["x"]
        assert np.all(np.isfinite(dx)), name
    dx = sim.optimizer("adamax").field(0.0, sim.optimizer("adamax").flow_init(x0, land), land)["x"]
    np.testing.assert_allclose(dx, -g / (np.abs(g) + 1e-8), rtol=1e-15)


# -- the β-fixed limits -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nadam", "radam", "adamax"])
def test_fixed_betas_approach_adams_sign_flow_closed_form(name):
    """ẋ = −g/(|g| + ε) on a diagonal quadratic: x_i(t) = sign(x_i0)·max(|x_i0| − t, 0), whatever the
    curvatures 1 and 100 (theory §10.1 [D], checked here): the iterates approach it as lr → 0."""
    lrs = 1e-3 / 2.0 ** np.arange(4)
    errors = sign_flow_errors(name, lrs)
    # RAdam's warm-up (momentum SGD, then r_k ≪ 1 for ~1/(1 − β₂) steps) costs a larger constant
    assert np.all(np.diff(errors) < 0) and errors[-1] < (6e-2 if name == "radam" else 2e-2), errors
    assert fit_order(lrs, errors)[0] > 0.75, errors
    model = flow(sim.optimizer(name, lr=1e-3), "limit")
    land, x = sim.landscape("quadratic(eigenvalues=(1, 100))"), np.array([0.3, -0.2])
    np.testing.assert_allclose(model.field(0.0, {"x": x}, land)["x"], -land.grad(x) / (np.abs(land.grad(x)) + 1e-8))


def test_decoupled_decay_enters_the_limit_outside_the_sign():
    land = sim.landscape("quadratic(eigenvalues=(1, 100))")
    x = np.array([0.3, -0.2])
    g = land.grad(x)
    for name in ("nadam", "radam"):
        opt = sim.optimizer(name, weight_decay=0.5, decoupled_weight_decay=True)
        np.testing.assert_allclose(flow(opt, "limit").field(0.0, {"x": x}, land)["x"],
                                   -g / (np.abs(g) + 1e-8) - 0.5 * x)
        coupled = sim.optimizer(name, weight_decay=0.5)
        gc = g + 0.5 * x
        np.testing.assert_allclose(flow(coupled, "limit").field(0.0, {"x": x}, land)["x"], -gc / (np.abs(gc) + 1e-8))


# -- the sign flow with torch's ε = 1e-8: a Filippov flow ----------------------------------------------
def test_the_sign_flow_with_a_tiny_eps_is_smoothed_only_in_its_switching_layers():
    """Below the solver's δ the field g/(|g| + ε) is written sign(g)·|g|/(|g| + ε) and its sign smoothed:
    bit for bit the field where every |gᵢ| ≫ δ; its Jacobian is the smoothed field's derivative."""
    land = sim.landscape("quadratic(eigenvalues=(1, 100))")
    model = flow(sim.optimizer("adam"), "limit")
    assert model.needs_smoothing(1e-6) and not flow(sim.optimizer("adam", eps=1e-4), "limit").needs_smoothing(1e-6)
    x = np.array([[0.3, -0.2], [1.0, 0.8]])  # |gᵢ| ≥ 0.3 = 3000 δ
    np.testing.assert_array_equal(model.smoothed(1e-4).field(0.0, {"x": x}, land)["x"],
                                  model.field(0.0, {"x": x}, land)["x"])
    near = np.array([[2e-4, -1e-6], [-5e-5, 3e-6]])  # inside the layers of δ = 1e-4
    smooth = model.smoothed(1e-4)
    np.testing.assert_allclose(smooth.jacobian(0.0, {"x": near}, land),
                               central_difference(lambda z: smooth.field(0.0, {"x": z}, land)["x"], near, h=1e-9),
                               rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", ["adam", "nadam", "radam", "adamax", "rmsprop"])
def test_the_sign_flow_through_its_switches_is_the_closed_form_within_its_stated_error(name):
    """Both coordinates reach 0 (at t = 0.8 and 1) and stay: x_i(t) = sign(x_i0)·max(|x_i0| − t, 0). Solved as
    a Filippov flow (δ = 1e-6·|∇f(x₀)|∞ = 8e-5): 3.9e-5 from it, as the 2δ solve estimates (measured 3.85e-5)."""
    land = sim.landscape("quadratic(eigenvalues=(1, 100))")
    x0, t = np.array([1.0, 0.8]), np.linspace(0, 1.2, 25)
    traj = sim.integrate(land, name, x0, t, flow="limit")
    closed = np.sign(x0) * np.maximum(np.abs(x0) - t[:, None], 0)
    error = np.max(np.abs(traj.x - closed))  # speed 1 (RMSprop's 1/(1 − μ) with μ = 0)
    assert traj.stats["smoothing"] == pytest.approx(8e-5) and "Filippov" in traj.stats["filippov"]
    assert error < 1.2 * traj.stats["smoothing_error"] < traj.stats["smoothing"] and int(traj.stats["nfev"]) < 5000


def test_whether_the_sign_flow_is_smoothed_is_each_members_own():
    """A batch of ε: the member with ε = 1e-8 < δ = 8e-5 is a Filippov flow, the one with ε = 1e-2 is solved
    as written (its smoothing NaN), and the record's note speaks of the first only."""
    land = sim.landscape("quadratic(eigenvalues=(1, 100))")
    opt = sim.optimizer("adam", eps=np.array([1e-8, 1e-2]))
    traj = sim.integrate(land, opt, np.array([1.0, 0.8]), np.linspace(0, 1.2, 25), flow="limit")
    delta = traj.stats["smoothing"]
    assert delta[0] == pytest.approx(8e-5) and np.isnan(delta[1]) and np.isnan(traj.stats["smoothing_error"][1])
    assert "δ = 8e-05" in traj.stats["filippov"]
    alone = sim.integrate(land, "adam(eps=0.01)", np.array([1.0, 0.8]), np.linspace(0, 1.2, 25), flow="limit")
    np.testing.assert_array_equal(traj.x[:, 1], alone.x)


# -- Adadelta's clock ---------------------------------------------------------------------------------
def test_adadelta_clock_is_the_step_whatever_lr():
    for lr in (1.0, 0.01, 3.0):
        opt = sim.optimizer("adadelta", lr=lr)
        assert float(opt.time_per_step) == 1.0
        assert flow(opt).clock == "1 (one step)" and flow(opt, "limit").time_per_step == 1.0
    run = sim.iterate(LANDS["quadratic"][0], "adadelta(lr=0.01)", LANDS["quadratic"][1], 10)
    np.testing.assert_array_equal(run.t, np.arange(11))
    with pytest.raises(ValueError, match="whatever lr: a ladder of learning rates does not shrink it"):
        sim.order(LANDS["quadratic"][0], "adadelta", LANDS["quadratic"][1], horizon=5.0, rungs=3)


@pytest.mark.parametrize("rho", [0.9, 0.5])
def test_adadelta_transient_grows_by_one_minus_rho_times_eps_per_step_independent_of_lr(rho):
    """|g| ≫ √ε: |Δ_k|² ≈ ε(c_ρ + (1 − ρ)k) (theory §10.2): the slope per step is (1 − ρ)ε while g
    stays put (lr → 0), and the steps Δ_k do not depend on lr (lr only scales how far x moves). At a
    finite lr the drift of g lowers the slope: v lags g² and trims (1 − ρ)(Δ² − u) by O(lr·u)
    (measured 3.6% at lr = 1e-3, ρ = 0.9, the theory's 9.7e-8)."""
    land = sim.landscape("quadratic(eigenvalues=(1, 1))")
    x0, steps = np.array([1.0, -2.0]), 3000
    deltas = {}
    for lr, n in ((1e-7, steps), (1e-3, 50)):
        xs = np.concatenate([[x0], run_steps(sim.optimizer("adadelta", lr=lr, rho=rho), land, x0, n)])
        deltas[lr] = -np.diff(xs, axis=0) / lr
    np.testing.assert_allclose(deltas[1e-3], deltas[1e-7][:50], rtol=5e-4)  # only g's path differs, by O(lr)
    d2 = np.sum(deltas[1e-7] ** 2, axis=-1) / 2  # per coordinate, both coordinates alike
    k = np.arange(1, steps + 1)
    late = k > 500
    slope, offset = np.polyfit(k[late], d2[late], 1)
    assert slope == pytest.approx((1 - rho) * 1e-6, rel=2e-3)
    if rho == 0.9:
        assert 8 < offset / 1e-6 < 14  # c_ρ ≈ 11 (theory §10.2, one run)


def test_adadelta_quasi_steady_is_gd_with_step_lr():
    """Where g² ≪ ε, Δ = g(1 + O(g²/ε)): Adadelta is GD with step lr, and at lr = 1 converges for
    curvature 1.5 and not for 2.5 (GD's threshold 2/lr); its limit model is GD's flow on the step clock."""
    land = sim.landscape("quadratic(eigenvalues=(0.5, 1.5))")
    x0 = np.array([1e-5, -2e-5])  # g² ≈ 1e-9 ≪ ε = 1e-6
    for lr in (1.0, 0.3):
        ada = run_steps(sim.optimizer("adadelta", lr=lr), land, x0, 40)
        gd = run_steps(sim.optimizer("gd", lr=lr), land, x0, 40)
        assert np.max(np.abs(ada - gd)) < 1e-3 * np.max(np.abs(x0))
    steep = sim.landscape("quadratic(eigenvalues=(1.5, 2.5))")
    xs = run_steps(sim.optimizer("adadelta"), steep, x0, 60)
    assert abs(xs[-1, 0]) < 1e-12 and abs(xs[-1, 1]) > abs(x0[1])
    fl = sim.integrate(land, "adadelta(lr=0.01)", x0, t=np.arange(0, 201.0), flow="limit", rtol=1e-11, atol=1e-20)
    it = sim.iterate(land, "adadelta(lr=0.01)", x0, 200)
    assert np.max(np.abs(fl.x - it.x)) < 5e-3 * np.max(np.abs(x0))  # GD vs its flow: O(lr·λ²t)
