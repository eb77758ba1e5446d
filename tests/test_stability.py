"""Sharpness, stability thresholds, edge of stability and Lyapunov energies (theory §4, §6).

Every threshold is checked where it matters, at the onset of divergence on a quadratic; the
edge-of-stability facts on the scalar net E(a, b) = ½(ab − 1)² are checked against exact
identities and against the gradient flow computed here, and the energies against their
defining statements (non-increasing along the flow, dE/dt = −γ|v|², the Su–Boyd–Candès formula).
Plots are checked through their artists' data.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import brentq

import simulate as sim
from simulate.models import energy_along
from simulate.analysis.order import order
from simulate.viz.plotting import plot_energy
from simulate.analysis.sharpness import RK4_STABILITY_LIMIT, sharpness, sharpness_along, stability_threshold
from simulate.solvers.trajectory import CONVERGED

SCALAR_NET_START = np.array([0.3, 4.0])


def _finite_difference_hessian(land, x, h=1e-4):
    """∇²f(x) from central differences of f only (independent of the landscape's own Hessian)."""
    x = np.asarray(x, float)
    d = x.size
    H = np.empty((d, d))
    E = np.eye(d) * h
    for i in range(d):
        for j in range(d):
            H[i, j] = (land.value(x + E[i] + E[j]) - land.value(x + E[i] - E[j])
                       - land.value(x - E[i] + E[j]) + land.value(x - E[i] - E[j])) / (4 * h * h)
    return H


def _balance(x):
    """D = a² − b², the quantity gradient flow conserves on the scalar net."""
    return x[..., 0] ** 2 - x[..., 1] ** 2


@pytest.fixture(scope="module")
def scalar_net_flow():
    """The gradient flow of the scalar net from (0.3, 4), integrated tightly to t = 200 (long converged)."""
    land = sim.landscape("scalar-net")
    flow = sim.integrate(land, sim.optimizer("gd", lr=0.01), SCALAR_NET_START, t=np.linspace(0.0, 200.0, 2001),
                         rtol=1e-12, atol=1e-14)
    assert flow.status == CONVERGED, flow.message
    return flow


# ------------------------------------------------------------------------------------------------
# 1. sharpness


def test_sharpness_of_a_quadratic_is_its_largest_eigenvalue_everywhere(rng):
    """On ½(x−c)ᵀA(x−c) the Hessian is A at every point: sharpness = max(eigenvalues), rotation or not."""
    land = sim.landscape("quadratic", eigenvalues=(0.5, 7.25), angle=0.7, center=(1.0, -2.0))
    pts = rng.uniform(-3, 3, size=(5, 2))
    np.testing.assert_allclose(sharpness(land, pts), np.full(5, 7.25), rtol=1e-13)
    land = sim.landscape("quadratic", eigenvalues=(3.0, 0.5, 2.0))
    np.testing.assert_allclose(sharpness(land, rng.uniform(-3, 3, size=(4, 3))), np.full(4, 3.0), rtol=1e-13)
    np.testing.assert_allclose(sharpness(sim.landscape("quadratic", eigenvalues=(2.0,)), [[0.3], [-1.0]]), [2.0, 2.0],
                               rtol=1e-15)


def test_sharpness_of_the_scalar_net_at_its_minima_is_a2_plus_b2():
    """At a minimum ab = 1 of ½(ab − 1)² the Hessian [[b², 1], [1, a²]] has eigenvalues {0, a² + b²} (theory §6)."""
    land = sim.landscape("scalar-net")
    a = np.array([1.0, -1.0, 2.0, 0.25, -4.0, 0.3])
    pts = np.stack([a, 1 / a], axis=-1)
    np.testing.assert_allclose(sharpness(land, pts), a**2 + 1 / a**2, rtol=1e-13)
    # the other eigenvalue is 0: the determinant b²a² − 1 vanishes on the curve of minima
    np.testing.assert_allclose(np.linalg.det(land.hess(pts)), 0.0, atol=1e-12)


def test_sharpness_matches_a_finite_difference_hessian_of_the_loss(rng):
    """Away from minima, sharpness = λmax of ∇²f computed from differences of f alone (scalar net, Rosenbrock)."""
    for name in ("scalar-net", "rosenbrock", "himmelblau"):
        land = sim.landscape(name)
        for x in rng.uniform(-2, 2, size=(4, 2)):
            top = np.linalg.eigvalsh(_finite_difference_hessian(land, x))[-1]
            assert sharpness(land, x) == pytest.approx(top, rel=1e-6, abs=1e-6), (name, x)
    # Rosenbrock at its minimum (1, 1): Hessian [[802, −400], [−400, 200]]
    expected = (1002 + math.sqrt(602**2 + 4 * 400**2)) / 2
    assert sharpness(sim.landscape("rosenbrock"), [1.0, 1.0]) == pytest.approx(expected, rel=1e-13)


def test_sharpness_is_nan_at_non_finite_points_only():
    """A point with a NaN or ±inf coordinate has sharpness NaN; its finite neighbours in the batch are unaffected."""
    land = sim.landscape("scalar-net")
    pts = np.array([[2.0, 0.5], [np.nan, 1.0], [1.0, np.inf], [-np.inf, -np.inf], [1.0, 1.0]])
    s = sharpness(land, pts)
    assert s.shape == (5,)
    np.testing.assert_array_equal(np.isnan(s), [False, True, True, True, False])
    np.testing.assert_allclose(s[[0, 4]], [4.25, 2.0], rtol=1e-13)
    assert np.isnan(sharpness(land, [np.nan, np.nan]))


def test_sharpness_keeps_batch_shapes_and_follows_a_record():
    """Points (T, B, d) give (T, B); sharpness_along a batched run equals sharpness of its x, NaN after divergence."""
    land = sim.landscape("quadratic", eigenvalues=(1.0, 10.0))
    x = np.random.default_rng(0).normal(size=(7, 3, 2))
    s = sharpness(land, x)
    assert s.shape == (7, 3)
    np.testing.assert_allclose(s, 10.0, rtol=1e-13)
    run = sim.iterate(land, sim.optimizer("gd", lr=(0.05, 0.25)), [1.0, 1.0], 200)  # the second member diverges
    along = sharpness_along(run)
    assert along.shape == (201, 2)
    np.testing.assert_allclose(along[:, 0], 10.0, rtol=1e-13)
    k = int(run.diverged_at[1])
    assert k > 0 and np.all(np.isnan(along[k + 1:, 1])) and np.allclose(along[:k + 1, 1], 10.0)


# ------------------------------------------------------------------------------------------------
# 2. stability thresholds

# (spec, hyperparameters, the theory's factor c with stability iff lr·λ < c)
THRESHOLD_CASES = [
    ("gd", {}, 2.0),
    ("momentum", {"momentum": 0.5}, 2 * 1.5),
    ("momentum", {"momentum": 0.9}, 2 * 1.9),
    ("nesterov", {"momentum": 0.5}, (2 + 2 * 0.5) / (1 + 2 * 0.5)),
    ("nesterov", {"momentum": 0.9}, (2 + 2 * 0.9) / (1 + 2 * 0.9)),
    ("sgd", {"momentum": 0.8, "dampening": 0.3}, 2 * 1.8 / 0.7),
    ("heun", {}, 2.0),
    ("rk4", {}, RK4_STABILITY_LIMIT),
]


@pytest.mark.parametrize("name, kw, factor", THRESHOLD_CASES, ids=lambda v: str(v))
def test_stability_threshold_formula(name, kw, factor):
    """stability_threshold = c/lr with theory §4's c: GD 2, heavy ball 2(1+μ) (/(1−τ) with dampening),
    torch Nesterov (2+2μ)/(1+2μ), Heun 2, RK4 2.785…; per batch member for an lr sweep."""
    for lr in (0.1, 0.037):
        assert float(stability_threshold(sim.optimizer(name, lr=lr, **kw))) == pytest.approx(factor / lr, rel=1e-14)
    swept = stability_threshold(sim.optimizer(name, lr=(0.1, 0.2, 0.4), **kw))
    np.testing.assert_allclose(swept, factor / np.array([0.1, 0.2, 0.4]), rtol=1e-14)


@pytest.mark.parametrize("name, kw, factor", THRESHOLD_CASES, ids=lambda v: str(v))
def test_stability_threshold_is_where_divergence_starts(name, kw, factor):
    """On a quadratic whose top curvature λ is 0.98× the threshold the iterates decay; at 1.02× they blow up."""
    opt = sim.optimizer(name, lr=0.1, **kw)
    limit = float(stability_threshold(opt))
    x0 = np.array([1.0, 1.0])
    for scale, stable in ((0.98, True), (1.02, False)):
        lam = scale * limit
        land = sim.landscape("quadratic", eigenvalues=(lam / 3, lam))
        run = sim.iterate(land, opt, x0, 1500)
        if stable:
            assert not run.diverged, (scale, run.message)
            assert np.linalg.norm(run.x[-1]) < 1e-6 * np.linalg.norm(x0), (scale, run.x[-1])
        else:
            assert run.diverged, (scale, run.message)
            k = int(run.diverged_at)
            assert np.linalg.norm(run.x[k]) > 100 * np.linalg.norm(x0)  # left the escape ball: no NaN accident


def test_methods_without_a_threshold_line_return_none():
    """Proximal point (never unstable), NAG-C (schedule) and adaptive methods have no 2/lr-type line."""
    for spec in ("proximal(lr=0.1)", "adam(lr=0.1)", "adamw(lr=0.1)", "rmsprop(lr=0.1)", "adagrad(lr=0.1)",
                 "nag-c(lr=0.1)"):
        assert stability_threshold(sim.optimizer(spec)) is None, spec


def test_rk4_stability_limit_is_the_root_of_its_stability_polynomial():
    """|1 − z + z²/2 − z³/6 + z⁴/24| = 1 at z = RK4_STABILITY_LIMIT, and < 1 on (0, limit): computed with brentq."""
    def poly(z):
        return 1 - z + z**2 / 2 - z**3 / 6 + z**4 / 24

    root = brentq(lambda z: poly(z) - 1, 2.0, 3.0, xtol=1e-15, rtol=1e-15)
    assert RK4_STABILITY_LIMIT == pytest.approx(root, rel=1e-14)
    z = np.linspace(1e-6, RK4_STABILITY_LIMIT - 1e-6, 2001)
    assert np.all(np.abs(poly(z)) < 1)
    # Heun: |1 − z + z²/2| = 1 at z = 2 exactly, and < 1 before
    assert 1 - 2 + 2**2 / 2 == 1 and np.all(np.abs(1 - z[z < 2] + z[z < 2] ** 2 / 2) < 1)
    # one RK4 step on f = λx²/2 multiplies x by that polynomial at z = lr·λ
    lam, lr = 3.0, 0.9
    run = sim.iterate(sim.landscape("quadratic", eigenvalues=(lam,)), sim.optimizer("rk4", lr=lr), [1.0], 3)
    np.testing.assert_allclose(run.x[:, 0], poly(lr * lam) ** np.arange(4), rtol=1e-14)


def test_proximal_point_is_stable_far_beyond_every_explicit_threshold():
    """Implicit Euler at lr·λ = 100: x_k = (1 + lr·A)⁻ᵏx₀ decays, no divergence."""
    land = sim.landscape("quadratic", eigenvalues=(1.0, 10.0))
    lr = 10.0  # lr·λmax = 100
    run = sim.iterate(land, sim.optimizer("proximal", lr=lr), [1.0, 1.0], 20)
    assert not run.diverged
    expected = np.array([1.0, 1.0]) / (1 + lr * np.array([1.0, 10.0])) ** np.arange(21)[:, None]
    np.testing.assert_allclose(run.x, expected, rtol=1e-12, atol=1e-300)
    # GD at the same lr·λ is long gone
    assert sim.iterate(land, sim.optimizer("gd", lr=lr), [1.0, 1.0], 20).diverged


# ------------------------------------------------------------------------------------------------
# 3. edge of stability on the scalar net


@pytest.mark.parametrize("lr", [0.02, 0.12, 0.13, 0.15, 0.2, 0.3])
def test_gd_balancing_identity_holds_exactly_on_the_scalar_net(lr):
    """GD on ½(ab − 1)² obeys D_{k+1} = D_k(1 − lr²r_k²), D = a² − b², r = ab − 1, at every step (theory §6)."""
    land = sim.landscape("scalar-net")
    run = sim.iterate(land, sim.optimizer("gd", lr=lr), SCALAR_NET_START, 400)
    x = run.x
    ok = np.all(np.isfinite(x), axis=-1)
    ok = ok[:-1] & ok[1:]
    assert ok.sum() >= 5
    D = _balance(x)
    r = x[:, 0] * x[:, 1] - 1
    np.testing.assert_allclose(D[1:][ok], D[:-1][ok] * (1 - lr**2 * r[:-1][ok] ** 2), rtol=1e-12)


def test_gradient_flow_conserves_the_balance(scalar_net_flow):
    """Gradient flow on the scalar net conserves D = a² − b² (theory §6), here to solver tolerance."""
    D = _balance(scalar_net_flow.x)
    assert D[0] == pytest.approx(0.3**2 - 4.0**2, rel=1e-15)
    assert np.max(np.abs(D - D[0])) < 1e-9


def test_flow_endpoint_sharpness_and_critical_learning_rate(scalar_net_flow):
    """From (0.3, 4) the flow ends on ab = 1 with sharpness 16.04 (theory §6), so η_c = 2/16.04 ≈ 0.1247."""
    land = scalar_net_flow.landscape
    end = scalar_net_flow.x[-1]
    assert end[0] * end[1] == pytest.approx(1.0, abs=1e-10)
    # the endpoint is the point of the hyperbola with a² − b² = D₀: a² = (D₀ + √(D₀² + 4))/2
    D0 = 0.3**2 - 4.0**2
    a = math.sqrt((D0 + math.sqrt(D0**2 + 4)) / 2)
    np.testing.assert_allclose(end, [a, 1 / a], rtol=1e-9)
    s_flow = float(sharpness(land, end))
    assert s_flow == pytest.approx(math.sqrt(D0**2 + 4), rel=1e-9)  # a² + b² on ab = 1
    assert s_flow == pytest.approx(16.04, abs=0.01)
    assert 2 / s_flow == pytest.approx(0.1247, abs=1e-4)


@pytest.mark.parametrize("lr", [0.02, 0.12])
def test_below_the_critical_lr_gd_lands_where_the_flow_lands(lr, scalar_net_flow):
    """For lr < η_c GD converges to (nearly) the flow's minimum: no catapult, sharpness ≈ the flow's 16.04."""
    land = scalar_net_flow.landscape
    s_flow = float(sharpness(land, scalar_net_flow.x[-1]))
    run = sim.iterate(land, sim.optimizer("gd", lr=lr), SCALAR_NET_START, 3000)
    assert run.status == CONVERGED, run.message
    assert np.linalg.norm(run.x[-1] - scalar_net_flow.x[-1]) < 0.02
    s = float(sharpness(land, run.x[-1]))
    assert abs(s - s_flow) < 0.1 and s < 2 / lr
    assert np.max(run.f[1:]) <= run.f[0]  # the loss never rises above its start


@pytest.mark.parametrize("lr", [0.13, 0.15, 0.2])
def test_above_the_critical_lr_gd_catapults_to_a_flatter_minimum(lr, scalar_net_flow):
    """For η_c < lr < 0.3: the loss spikes (> 5× its start), then GD settles on ab = 1 where
    sharpness < 2/lr < the flow's endpoint sharpness (edge of stability, Cohen et al. 2021)."""
    land = scalar_net_flow.landscape
    s_flow = float(sharpness(land, scalar_net_flow.x[-1]))
    assert 2 / lr < s_flow  # the flow's minimum is unstable for this lr
    run = sim.iterate(land, sim.optimizer("gd", lr=lr), SCALAR_NET_START, 3000)
    assert run.status == CONVERGED, run.message
    assert np.max(run.f) > 5 * run.f[0]
    a, b = run.x[-1]
    assert a * b == pytest.approx(1.0, abs=1e-8)
    s = float(sharpness(land, run.x[-1]))
    assert s < 2 / lr and s < s_flow - 0.5


def test_gd_diverges_on_the_scalar_net_at_lr_0_3():
    """At lr = 0.3 no minimum reachable from (0.3, 4) is stable: GD diverges (theory §6)."""
    run = sim.iterate(sim.landscape("scalar-net"), sim.optimizer("gd", lr=0.3), SCALAR_NET_START, 3000)
    assert run.diverged and run.diverged_at > 0


def test_edge_of_stability_table_of_the_theory():
    """Theory §6's table (rounded): end sharpness 16.04, 15.98, 14.63, 9.76, 2.34 and peak loss (over k ≥ 1)
    0.009, 0.017, 0.136, 2.47, 16.4 for lr 0.02, 0.12, 0.13, 0.15, 0.2; end sharpness falls as lr grows."""
    land = sim.landscape("scalar-net")
    # lr: (end sharpness, peak loss, half a unit in the peak's last printed digit)
    table = {0.02: (16.04, 0.009, 5e-4), 0.12: (15.98, 0.017, 5e-4), 0.13: (14.63, 0.136, 5e-4),
             0.15: (9.76, 2.47, 5e-3), 0.2: (2.34, 16.4, 5e-2)}
    lrs = sorted(table)
    run = sim.iterate(land, sim.optimizer("gd", lr=lrs), SCALAR_NET_START, 3000)
    assert np.all(run.status == CONVERGED)
    ends = sharpness(land, run.x[-1])
    peaks = np.max(run.f[1:], axis=0)
    for i, lr in enumerate(lrs):
        s_table, peak_table, half_unit = table[lr]
        assert ends[i] == pytest.approx(s_table, abs=0.01), lr
        assert peaks[i] == pytest.approx(peak_table, abs=half_unit), lr
    assert np.all(np.diff(ends) < 0)


# ------------------------------------------------------------------------------------------------
# 4. higher-order integrators lose GD's implicit regularization


def test_runge_kutta_steps_keep_the_flows_balance_and_sharpness(scalar_net_flow):
    """At lr = 0.02 (below every threshold) on the scalar net, GD drifts from the flow's balance D by its
    implicit regularizer lr/4·|∇f|² (towards flatter minima); Heun (order 2) and RK4 (order 4) drift
    ≥ 10× and ≥ 100× less; proximal point (regularizer −lr/4·|∇f|²) drifts the other way, to sharper minima."""
    land = scalar_net_flow.landscape
    lr = 0.02
    end = scalar_net_flow.x[-1]
    D_flow, s_flow = _balance(end), float(sharpness(land, end))
    drift, sharp = {}, {}
    for name in ("gd", "heun", "rk4", "proximal"):
        run = sim.iterate(land, sim.optimizer(name, lr=lr), SCALAR_NET_START, 5000)
        assert run.status == CONVERGED, (name, run.message)
        drift[name] = float(_balance(run.x[-1]) - D_flow)
        sharp[name] = float(sharpness(land, run.x[-1]))
    assert drift["gd"] > 0 and sharp["gd"] < s_flow  # more balanced, flatter
    assert abs(drift["gd"]) > 10 * abs(drift["heun"])
    assert abs(drift["gd"]) > 100 * abs(drift["rk4"])
    assert abs(s_flow - sharp["gd"]) > 10 * abs(s_flow - sharp["heun"])
    assert abs(s_flow - sharp["gd"]) > 100 * abs(s_flow - sharp["rk4"])
    assert drift["proximal"] < 0 and sharp["proximal"] > s_flow


def test_at_equal_gradient_evaluations_runge_kutta_is_closer_to_the_flow():
    """On quadratic(1, 10) to T = 1, with equal gradient evaluations per rung (gd lr, heun 2lr, rk4 4lr):
    rk4 is closer to the exact gradient flow than heun, and heun than gd."""
    land = sim.landscape("quadratic", eigenvalues=(1.0, 10.0))
    base = np.array([0.025, 0.0125])
    results = {name: order(land, sim.optimizer(name, lr=k * base[0]), flow="exact", lrs=k * base)
               for name, k in (("gd", 1), ("heun", 2), ("rk4", 4))}
    np.testing.assert_array_equal(results["gd"].evaluations, results["heun"].evaluations)
    np.testing.assert_array_equal(results["gd"].evaluations, results["rk4"].evaluations)
    assert np.all(np.isfinite(results["gd"].error))
    assert np.all(results["rk4"].error < results["heun"].error)
    assert np.all(results["heun"].error < results["gd"].error)


# ------------------------------------------------------------------------------------------------
# 5. Lyapunov energies

ENERGY_CASES = [
    # (optimizer spec, landscape spec, flow kind, steps, energy name)
    ("gd(lr=0.001)", "rosenbrock", "exact", 2000, "f"),
    ("momentum(lr=0.001, momentum=0.9)", "rosenbrock", "exact", 2000, "f + lr·|b|²/(2(1 − τ))"),
    ("sgd(lr=0.001, momentum=0.9, dampening=0.3)", "rosenbrock", "exact", 2000, "f + lr·|b|²/(2(1 − τ))"),
    ("nesterov(lr=0.001, momentum=0.9)", "rosenbrock", "exact", 2000, "f + lr·|b|²/(2(1 − τ))"),
    ("momentum(lr=0.01, momentum=0.9)", "rosenbrock", "oscillator", 300, "f + |ẋ|²/2"),
    ("gd(lr=0.001)", "rosenbrock", "modified", 2000, "modified loss f̃"),
    ("nag-c(lr=0.01, r=3)", "quadratic(eigenvalues=(1, 10), angle=0.5)", "limit", 500, None),
    ("nag-c(lr=0.01, r=5)", "quadratic(eigenvalues=(1, 10), angle=0.5)", "limit", 500, None),
    ("rmsprop(lr=0.001)", "rosenbrock", "exact", 2000, "f"),
    ("adagrad(lr=0.1)", "rosenbrock", "exact", 2000, "f"),
]


@pytest.mark.parametrize("spec, land_spec, kind, steps, name", ENERGY_CASES, ids=lambda v: str(v))
def test_energy_is_non_increasing_along_the_integrated_flow(spec, land_spec, kind, steps, name):
    """Each flow's Lyapunov energy goes down along it (up to solver error, 1e-9·E(0)) and actually decreases."""
    flow = sim.integrate(sim.landscape(land_spec), sim.optimizer(spec), None, steps=steps, flow=kind)
    assert not flow.diverged and flow.status != 3, flow.message
    E, label = energy_along(flow)
    assert E is not None and E.shape == flow.f.shape and np.all(np.isfinite(E))
    if name is not None:
        assert label == name
    assert np.max(np.diff(E)) <= 1e-9 * abs(E[0])
    assert E[-1] < 0.5 * E[0]


def test_gradient_flow_energy_is_f_and_falls_at_rate_grad_squared():
    """GD's exact flow: E = f and dE/dt = −|∇f|² (central differences of a finely sampled record)."""
    land = sim.landscape("himmelblau")
    t = np.linspace(0.0, 0.5, 5001)
    flow = sim.integrate(land, sim.optimizer("gd", lr=0.001), [0.0, 0.0], t=t, rtol=1e-11, atol=1e-13)
    E, _ = energy_along(flow)
    np.testing.assert_array_equal(E, flow.f)
    dE = (E[2:] - E[:-2]) / (t[2:] - t[:-2])
    rate = -np.sum(land.grad(flow.x[1:-1]) ** 2, axis=-1)
    np.testing.assert_allclose(dE, rate, rtol=1e-4, atol=1e-6 * np.max(np.abs(rate)))


def test_heavy_ball_lift_energy_is_recomputed_from_the_buffer():
    """The heavy-ball lift's energy is f + lr|b|²/(2(1 − τ)) computed from the record's buffer b (dampening 0.3)."""
    lr, tau = 0.001, 0.3
    land = sim.landscape("rosenbrock")
    flow = sim.integrate(land, sim.optimizer("sgd", lr=lr, momentum=0.9, dampening=tau), None, steps=300, flow="exact")
    E, _ = energy_along(flow)
    b = flow.state["b"]
    np.testing.assert_allclose(E, land.value(flow.x) + lr * np.sum(b * b, axis=-1) / (2 * (1 - tau)), rtol=1e-14)


def test_damped_oscillator_energy_falls_at_rate_gamma_v_squared():
    """ẍ + γẋ + ∇f = 0 with γ = (1 − μ)/√lr: E = f + |v|²/2 and dE/dt = −γ|v|² (central differences)."""
    lr, mu = 0.01, 0.9
    gamma = (1 - mu) / math.sqrt(lr)
    land = sim.landscape("himmelblau")
    t = np.linspace(0.0, 2.0, 8001)
    flow = sim.integrate(land, sim.optimizer("momentum", lr=lr, momentum=mu), [0.0, 0.0], t=t, flow="oscillator",
                         rtol=1e-11, atol=1e-13)
    assert not flow.diverged
    v = flow.state["v"]
    E, _ = energy_along(flow)
    np.testing.assert_allclose(E, flow.f + 0.5 * np.sum(v * v, axis=-1), rtol=1e-14)
    dE = (E[2:] - E[:-2]) / (t[2:] - t[:-2])
    rate = -gamma * np.sum(v[1:-1] ** 2, axis=-1)
    np.testing.assert_allclose(dE, rate, rtol=1e-4, atol=1e-5 * np.max(np.abs(rate)))
    # v is the velocity of x
    dx = (flow.x[2:] - flow.x[:-2]) / (t[2:] - t[:-2])[:, None]
    np.testing.assert_allclose(dx, v[1:-1], rtol=1e-4, atol=1e-4 * np.max(np.abs(v)))


@pytest.mark.parametrize("r", [3.0, 5.0])
def test_su_boyd_candes_energy_recomputed_from_the_state(r):
    """NAG-C's limit flow on a convex quadratic: energy_along equals 2t²/(r−1)·(f − f*) + (r−1)|X + tẊ/(r−1) − x*|²
    recomputed from the record (for r = 3: t²(f − f*) + 2|X + tẊ/2 − x*|²), and state["v"] is Ẋ."""
    center = np.array([0.5, -1.0])
    land = sim.landscape("quadratic", eigenvalues=(1.0, 10.0), angle=0.5, center=tuple(center))
    lr = 0.01
    opt = sim.optimizer("nag-c", lr=lr, r=r)
    assert float(sim.integrate(land, opt, [2.0, 1.0], steps=3, flow="limit").t[-1]) == pytest.approx(3 * math.sqrt(lr))
    flow = sim.integrate(land, opt, [2.0, 1.0], t=np.linspace(0.0, 8.0, 4001), flow="limit", rtol=1e-10, atol=1e-12)
    t, X, V = flow.t, flow.x, flow.state["v"]
    E, _ = energy_along(flow)
    f = land.value(X)  # f* = 0 at the centre
    if r == 3.0:
        expected = t**2 * f + 2 * np.sum((X + (t / 2)[:, None] * V - center) ** 2, axis=-1)
    else:
        expected = 2 * t**2 / (r - 1) * f + (r - 1) * np.sum((X + (t / (r - 1))[:, None] * V - center) ** 2, axis=-1)
    np.testing.assert_allclose(E, expected, rtol=1e-12, atol=1e-14)
    dt = t[1] - t[0]
    np.testing.assert_allclose((X[2:] - X[:-2]) / (2 * dt), V[1:-1], atol=1e-3 * np.max(np.abs(V)))
    assert np.max(np.diff(E)) <= 1e-9 * E[0] and E[-1] < E[0]


def test_no_energy_for_adam_or_for_iterates():
    """energy_along is (None, "") for Adam's exact lift (no known Lyapunov function) and for iterates (no state)."""
    land = sim.landscape("rosenbrock")
    assert energy_along(sim.integrate(land, sim.optimizer("adam", lr=0.01), None, steps=20)) == (None, "")
    assert energy_along(sim.iterate(land, sim.optimizer("gd", lr=0.001), None, 20)) == (None, "")


# ------------------------------------------------------------------------------------------------
# 6. drawn data


def _axes_titled(fig, start):
    found = [ax for ax in fig.axes if ax.get_title().startswith(start)]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def test_sharpness_and_energy_panels_draw_the_numbers():
    """The sharpness panel holds sharpness(iterates) and a dashed line at 2/lr; the energy panel holds f
    along the (finely sampled) gradient flow."""
    lr = 0.15
    result = sim.plot(landscape="scalar-net", optimizers=[f"gd(lr={lr})"], steps=50, sharpness=True,
                      energy=True)
    e = result.experiment.entries[0]
    land = result.experiment.landscape
    ax_sharp = _axes_titled(result.figure, "sharpness of the iterates")
    ax_energy = _axes_titled(result.figure, "Lyapunov energy")
    curves = [line for line in ax_sharp.lines if len(line.get_ydata()) == 51]
    assert len(curves) == 1
    np.testing.assert_allclose(curves[0].get_ydata(), sharpness(land, e.iterates.x), rtol=1e-14)
    np.testing.assert_allclose(curves[0].get_xdata(), e.iterates.t, rtol=1e-14)
    flat = [line for line in ax_sharp.lines if line is not curves[0]]
    assert len(flat) == 1
    np.testing.assert_allclose(flat[0].get_ydata(), [2 / lr, 2 / lr], rtol=1e-14)
    assert flat[0].get_linestyle() == "--" and flat[0].get_color() == curves[0].get_color()
    assert len(ax_energy.lines) == 1
    assert e.flow.x.shape[0] > 51  # the flow is drawn from its fine samples
    np.testing.assert_allclose(ax_energy.lines[0].get_ydata(), land.value(e.flow.x), rtol=1e-14)
    np.testing.assert_allclose(ax_energy.lines[0].get_xdata(), e.flow.t, rtol=1e-14)
    # the iterates really do cross the line: sharpness starts above 2/lr and ends below it
    s = sharpness(land, e.iterates.x)
    assert s[0] > 2 / lr > s[-1]


def test_plot_energy_refuses_a_flow_without_energy():
    """plot_energy raises ValueError for Adam's exact flow (no known energy) and draws nothing."""
    flow = sim.integrate(sim.landscape("rosenbrock"), sim.optimizer("adam", lr=0.01), None, steps=10)
    ax = plt.figure().gca()
    with pytest.raises(ValueError, match="no known energy"):
        plot_energy(flow, ax)
    assert len(ax.lines) == 0


# ------------------------------------------------------------------------------------------------
# 7. command line


def test_cli_plot_with_sharpness_and_energy_writes_the_figure(tmp_path, monkeypatch):
    """simulate plot --sharpness --energy ... writes a PNG and exits 0."""
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    code = main(["plot", "--sharpness", "--energy", "-l", "scalar-net", "-o", "gd(lr=0.15)", "--steps", "50",
                 "--out", "X.png"])
    assert code == 0
    out = tmp_path / "X.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    record = (tmp_path / "X.run.toml").read_text()
    assert "sharpness = true" in record and "energy = true" in record


def test_cli_unknown_flow_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys):
    """--flow bogus exits 2 with one 'error:' line naming the valid flows, and writes nothing."""
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--flow", "bogus", "--out", "Y.png"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "bogus" in err[0] and "oscillator" in err[0]
    assert list(tmp_path.iterdir()) == []
