"""Steepest descent in a norm (simulate.optimizers.steepest) and the integration of its discontinuous
(Filippov) flows (simulate.solvers.continuous): theory §10.9.

Oracles: the definitions of d_nsd and d_sd as minimizers; one step = one explicit Euler step of the
field; df/dt = −‖∇f‖_* (or −‖∇f‖_*²) along every flow, in integral form; the regularization's O(δ)
convergence and the finite arrival time T* on the table's quartic (theory's [C] numbers); observed
order 1 by regression; preconditioned GD = GD with a per-coordinate lr; Adam's sign-flow limit.
"""

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

import simulate as sim
from simulate.models import flow as make_flow
from simulate.optimizers.steepest import dual_norm
from simulate.solvers.continuous import euler_step
from simulate.solvers.trajectory import CONVERGED, FAILED
from helpers import demo_data

# theory §10.9's test function: f = ½xᵀ[[2, 1.2], [1.2, 1]]x + 0.1x₁⁴ from (1.5, −0.3)
QUARTIC = sim.landscape("x**2 + 1.2*x*y + 0.5*y**2 + 0.1*x**4")
X0 = np.array([1.5, -0.3])
T_STAR = 1.663636  # theory: the sign flow reaches the minimizer at this finite time (event-driven solve)

NORMS = ["sign-gd", "coordinate-gd", "normalized-gd", "preconditioned-gd(metric=(2, 0.5))",
         "steepest(norm=2, metric=(2, 0.5))", "steepest(norm=inf, normalized=false)",
         "steepest(norm=1, normalized=false)", "steepest(norm=2, metric=((2, 0.3), (0.3, 0.5)))",
         "steepest(norm=2, metric=((2, 0.3), (0.3, 0.5)), normalized=false)"]


def _primal(d, opt):
    """‖d‖ in the optimizer's norm."""
    if opt.norm == 1.0:
        return np.sum(np.abs(d), axis=-1)
    if opt.norm == np.inf:
        return np.max(np.abs(d), axis=-1)
    P = np.diag(opt.metric) if opt.metric and np.ndim(opt.metric) == 1 else \
        (np.array(opt.metric) if opt.metric else np.eye(d.shape[-1]))
    return np.sqrt(np.einsum("...i,ij,...j->...", d, P, d))


@pytest.mark.parametrize("spec", NORMS)
def test_directions_are_the_minimizers_that_define_them(spec):
    opt = sim.optimizer(spec)
    g = np.random.default_rng(0).normal(size=(200, 2))
    d = opt.direction(g)
    dual = dual_norm(g, opt.norm, opt.metric)
    inner = np.einsum("...i,...i->...", g, d)
    v = np.random.default_rng(1).normal(size=(200, 2))
    if opt.normalized:  # d_nsd: ‖d‖ = 1 and ⟨g, d⟩ = −‖g‖_* = min over the unit ball (v/‖v‖ does no better)
        np.testing.assert_allclose(_primal(d, opt), 1.0, rtol=1e-12)
        np.testing.assert_allclose(inner, -dual, rtol=1e-12)
        assert np.all(np.einsum("...i,...i->...", g, v) / _primal(v, opt) >= inner - 1e-12)
    else:  # d_sd = argmin ⟨g, v⟩ + ½‖v‖², whose value is −½‖g‖_*²
        value = inner + 0.5 * _primal(d, opt) ** 2
        np.testing.assert_allclose(value, -0.5 * dual**2, rtol=1e-12)
        assert np.all(np.einsum("...i,...i->...", g, v) + 0.5 * _primal(v, opt) ** 2 >= value - 1e-12)
    assert np.all(opt.direction(np.zeros((1, 2))) == 0)  # no direction where ∇f = 0


def test_the_presets_and_their_directions():
    g = np.array([3.0, -4.0])
    assert np.array_equal(sim.optimizer("sign-gd").direction(g), [-1.0, 1.0])
    assert np.array_equal(sim.optimizer("coordinate-gd").direction(g), [0.0, 1.0])
    np.testing.assert_allclose(sim.optimizer("normalized-gd").direction(g), [-0.6, 0.8], rtol=1e-15)
    assert np.array_equal(sim.optimizer("preconditioned-gd(metric=(2, 0.5))").direction(g), [-1.5, 8.0])
    # ℓ1 ties go to the lowest index
    assert np.array_equal(sim.optimizer("coordinate-gd").direction(np.array([2.0, -2.0])), [-1.0, 0.0])
    for spec in ("sign-gd(lr=0.1)", "preconditioned-gd(lr=0.1, metric=(2, 0.5))", "steepest(lr=0.1, norm=1, normalized=false)"):
        assert sim.optimizer(sim.optimizer(spec).spec) == sim.optimizer(spec) and sim.optimizer(spec).spec == spec
    with pytest.raises(ValueError, match="norm must be 1, 2 or inf"):
        sim.optimizer("steepest(norm=3)")
    with pytest.raises(ValueError, match="give norm=2"):
        sim.optimizer("steepest(norm=1, metric=(1, 2))")
    with pytest.raises(ValueError, match="positive"):
        sim.optimizer("preconditioned-gd(metric=(1, -2))")
    with pytest.raises(ValueError, match="symmetric positive definite"):
        sim.optimizer("preconditioned-gd(metric=((1, 2), (2, 1)))")
    with pytest.raises(ValueError, match="metric has 3 entries"):
        sim.iterate(QUARTIC, "preconditioned-gd(metric=(1, 2, 3))", X0, 2)


@pytest.mark.parametrize("spec", NORMS)
def test_one_step_is_one_explicit_euler_step_of_the_flow(spec):
    opt = sim.optimizer(spec).replace(lr=np.array([1e-4, 1e-3, 1e-2]) if sim.optimizer(spec).normalized else
                                      np.array([1e-5, 1e-4, 3e-4]))
    land = sim.landscape("rosenbrock")
    state = opt.init(np.array([-1.2, 1.0]))
    model = make_flow(opt, "exact")
    for k in range(1, 30):
        new = opt.step(state, land, k)
        np.testing.assert_array_equal(euler_step(land, opt, state, k)["x"], new["x"])
        by_flow = state["x"] + opt._b(opt.lr) * model.field(0.0, state, land)["x"]
        np.testing.assert_allclose(by_flow, new["x"], rtol=1e-15, atol=1e-15)
        state = new


def test_preconditioned_gd_is_gd_with_a_per_coordinate_lr():
    p = np.array([2.0, 0.5])
    land = sim.landscape("rosenbrock")
    ours = sim.iterate(land, sim.optimizer("preconditioned-gd(lr=0.0005, metric=(2, 0.5))"), [-1.2, 1.0], 200).x
    gd = sim.iterate(land, sim.optimizer("gd", lr=0.0005, lr_scale=tuple(1 / p)), [-1.2, 1.0], 200).x
    np.testing.assert_allclose(ours, gd, rtol=1e-13, atol=1e-15)
    # a full P: x ← x − lr·P⁻¹∇f, and the P-norm's unnormalized flow is the preconditioned gradient flow
    P = np.array([[2.0, 0.3], [0.3, 0.5]])
    opt = sim.optimizer("preconditioned-gd", lr=0.01, metric=((2.0, 0.3), (0.3, 0.5)))
    x = np.array([-1.2, 1.0])
    np.testing.assert_allclose(opt.step({"x": x}, land, 1)["x"], x - 0.01 * np.linalg.solve(P, land.grad(x)), rtol=1e-15)
    t = np.linspace(0, 1, 11)
    a = sim.integrate(QUARTIC, sim.optimizer("preconditioned-gd(metric=(2, 0.5))"), X0, t, rtol=1e-11, atol=1e-13)
    b = sim.integrate(QUARTIC, sim.optimizer("gd", lr_scale=(0.5, 2.0)), X0, t, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(a.x, b.x, atol=1e-9)


# -- the flows ----------------------------------------------------------------------------------------
IDENTITY_T = np.linspace(0.0, 2.5, 2501)  # past the ℓ∞ flow's arrival (T* ≈ 1.66) and the ℓ1 flow's tie


@pytest.fixture(scope="module")
def flows():
    return {spec: sim.integrate(QUARTIC, sim.optimizer(spec), X0, IDENTITY_T) for spec in NORMS}


@pytest.mark.parametrize("spec", NORMS)
def test_df_dt_is_minus_the_dual_norm_in_integral_form(flows, spec):
    """f(x(t)) − f(x₀) + ∫₀ᵗ ‖∇f‖_* (normalized; ‖∇f‖_*² unnormalized) = 0, the integral a
    trapezoid on a save grid of 1e-3: its error at the kinks of ‖∇f(x(t))‖_* (switches, ties,
    arrival) and the regularization's O(δ) bound the residual. Measured: ≤ 1.1e-5 (ℓ∞
    unnormalized, whose rate ‖g‖₁² is largest), ≤ 1e-6 for the others."""
    traj = flows[spec]
    assert np.all(traj.status != FAILED)
    rate = make_flow(traj.optimizer, "exact").decrease_rate(traj.state, QUARTIC)
    residual = traj.f - traj.f[0] + cumulative_trapezoid(rate, IDENTITY_T, initial=0.0)
    scale = 1.0 if traj.optimizer.normalized else float(rate[0])
    assert np.max(np.abs(residual)) < 3e-6 * scale, np.max(np.abs(residual))
    assert np.all(np.diff(traj.f) <= 1e-12) and traj.f[-1] < 0.05 * traj.f[0]  # and it descends


def test_the_record_says_how_a_filippov_flow_was_solved(flows):
    sign = flows["sign-gd"]
    note = sign.stats["filippov"]
    assert note.startswith("Filippov flow, regularized sign→tanh(·/δ), δ = 4e-06, estimated error")
    delta, error = sign.stats["smoothing"], sign.stats["smoothing_error"]
    assert delta == pytest.approx(1e-6 * 3.99) and 0 < error < 2e-5 and sign.stats["rtol"] == 1e-10
    assert "softmax" in flows["coordinate-gd"].stats["filippov"] and "√" in flows["normalized-gd"].stats["filippov"]
    assert "filippov" not in flows["preconditioned-gd(metric=(2, 0.5))"].stats  # smooth: the default path


def test_regularization_converges_at_order_delta():
    """theory §10.9 [C]: the tanh-regularized sign flow at δ = 1e-2, 1e-3, 1e-4 is 1.1e-2, 1.1e-3,
    1.1e-4 from the Filippov solution at t = 1.2 (reference: the default solve, δ = 4e-6, whose own
    estimated error is 4e-6). Measured: 1.09e-2, 1.09e-3, 1.05e-4."""
    opt = sim.optimizer("sign-gd")
    ref = sim.integrate(QUARTIC, opt, X0, [0.0, 1.2]).x[-1]
    model = make_flow(opt)
    dist = [np.max(np.abs(sim.integrate(QUARTIC, opt, X0, [0.0, 1.2], flow=model.smoothed(d), rtol=1e-10,
                                        atol=1e-12).x[-1] - ref)) for d in (1e-2, 1e-3, 1e-4)]
    np.testing.assert_allclose(dist, [1.1e-2, 1.1e-3, 1.1e-4], rtol=0.1)


def test_the_sign_flow_arrives_in_finite_time_and_stays():
    """theory: T* = 1.663636. Before it ‖x‖∞ falls at unit speed (ẋ = −sign(g) on the last
    coordinate that moves), after it the flow rests at 0; the solver does not chatter to its budget."""
    t = np.concatenate([[0.0], np.linspace(1.6, 1.66, 7), [5.0]])
    traj = sim.integrate(QUARTIC, "sign-gd", X0, t)
    size = np.max(np.abs(traj.x), axis=-1)
    arrival = t[1:8] + size[1:8]  # each sample before T* extrapolated at unit speed
    np.testing.assert_allclose(arrival, T_STAR, atol=2e-5)
    assert traj.status == CONVERGED and size[-1] < 1e-12 and traj.stats["nfev"] < 5000


def test_the_sign_flow_on_rosenbrock_finishes_within_its_budget():
    """Given the discontinuous field itself, LSODA, RK45 and Radau all spend their budget near the first
    switch (measured: stopped at t = 0.1 after 5e4 evaluations each); regularized, it ends at (1, 1)."""
    from simulate.solvers.continuous import Stepping, Tolerances, _solve_member

    raw = _solve_member(make_flow(sim.optimizer("sign-gd")), sim.landscape("rosenbrock"), np.array([-1.2, 1.0]),
                        np.linspace(0, 3, 31), Stepping("LSODA", max_evaluations=10_000), Tolerances(), 1e3)
    assert raw.budget == "evaluations" and raw.t_stop < 0.2
    for method in ("LSODA", "RK45"):  # an explicit method is given LSODA (Radau: 8.7e3 evaluations, slower)
        traj = sim.integrate("rosenbrock", "sign-gd", [-1.2, 1.0], np.linspace(0, 3, 31), method=method,
                             max_evaluations=50_000)
        assert traj.status == CONVERGED and traj.stats["nfev"] < 20_000, (method, traj.message, traj.stats["nfev"])
        np.testing.assert_allclose(traj.x[-1], [1.0, 1.0], atol=1e-6)
        assert traj.stats["method"] == "LSODA"


def test_normalized_gd_converges_to_its_flow_at_order_one():
    r = sim.order(QUARTIC, "normalized-gd(lr=0.02)", X0, horizon=0.8, rungs=5)
    assert r.flow == "exact" and r.expected_order == 1
    assert abs(r.observed_order - 1) < 0.05, r


def test_adams_sign_flow_tends_to_the_linf_flow_as_eps_vanishes():
    """Adam's β-fixed limit ẋ = −g/(|g| + ε) → −sign(g) as ε → 0. Measured distances over t ≤ 1.2:
    7.2e-2, 1.5e-2, 2.6e-3 for ε = 1e-2, 1e-3, 1e-4 (ratios 4.7, 5.9: slower than O(ε) while the
    ε-flow's sliding layer is wider than its switching one)."""
    t = [0.0, 0.6, 1.2]
    ref = sim.integrate(QUARTIC, "sign-gd", X0, t).x
    dist = [np.max(np.abs(sim.integrate(QUARTIC, sim.optimizer("adam", eps=eps), X0, t, flow="limit",
                                        rtol=1e-10, atol=1e-12).x - ref)) for eps in (1e-2, 1e-3, 1e-4)]
    assert dist[0] < 0.1 and dist[-1] < 3e-3 and all(a / b > 4 for a, b in zip(dist, dist[1:])), dist


# -- the loss panel's identity and the four-norms demo -------------------------------------------------
def test_the_loss_panel_draws_the_identity_on_the_flow(tmp_path):
    from simulate.viz.plotting import identity_along, plot_identity

    land = sim.landscape("formula('x**2 + 1.2*x*y + 0.5*y**2 + 0.1*x**4', start=(1.5, -0.3))")
    result = sim.plot(land, ["sign-gd(lr=0.05)", "gd(lr=0.05)"], steps=30)
    ax = result.figure.axes[1]
    dashed = [line for line in ax.lines if line.get_label().startswith("sign-gd: f(x₀) − ∫‖∇f‖₁dt")]
    assert len(dashed) == 1 and not any("∫" in line.get_label() and line.get_label().startswith("gd")
                                        for line in ax.lines)  # gd's flow has no decrease_rate: nothing drawn
    flow = result.experiment.entries[0].flow
    y, name = identity_along(flow)
    np.testing.assert_array_equal(dashed[0].get_ydata(), y)  # what is drawn is the identity's data
    np.testing.assert_allclose(y, flow.f, atol=3e-4)  # and it lies on f along the flow
    assert "Filippov" in ax.get_title() and plot_identity(result.experiment.entries[1].flow, ax) is None
    assert make_flow(sim.optimizer("gd")).decrease_rate({"x": X0}, QUARTIC) is None


@pytest.fixture(scope="module")
def four_norms(demo_written):
    return demo_data(demo_written("four-norms"))


def test_four_norms_caption(four_norms):
    """Each fact of the demo's caption, on its own data."""
    from simulate.cli.demos import DEMOS

    a = four_norms
    land = sim.landscape(str(a["landscape"]))
    specs = [str(s) for s in a["specs"]]
    assert [s.split("(")[0] for s in specs] == ["normalized-gd", "sign-gd", "coordinate-gd", "preconditioned-gd"]
    caption = DEMOS["four-norms"].caption
    assert "lr = 0.02" in caption and all("lr=0.02" in s for s in specs)
    assert all(fact in caption for fact in ("δ = 4e-6", "≤ 2e-5", "within 3e-4", "1.66 (ℓ∞), 1.81 (ℓ1) and 1.89 (ℓ2)",
                                            "within 4·lr", "e^(−t)"))
    arrivals = {}
    for i, spec in enumerate(specs):
        t, x, f = a[f"flow_dense_t_{i}"], a[f"flow_dense_x_{i}"], a[f"flow_dense_f_{i}"]
        opt = sim.optimizer(spec)
        # dashed on f: f(x₀) − ∫‖∇f‖_* dt along every flow within 3e-4
        rate = make_flow(opt).decrease_rate({"x": x}, land)
        assert np.max(np.abs(f - f[0] + cumulative_trapezoid(rate, t, initial=0.0))) < 3e-4, spec
        size = np.max(np.abs(x), axis=-1)
        if opt.normalized:  # finite arrival, then rest; the iterates chatter within a few lr
            k = int(np.argmax(size < 1e-6))
            assert k > 0 and np.all(size[k:] < 1e-6), spec
            arrivals[spec.split("(")[0]] = t[k]
            late = np.max(np.abs(a[f"iterates_x_{i}"][a[f"iterates_t_{i}"] > 2.0]), axis=-1)
            assert np.all(late <= 4 * 0.02) and np.all(late > 0), spec
        else:  # Newton's metric: ‖x‖ ∝ e^(−t) near the minimizer
            late = t >= 1.0
            slope = np.polyfit(t[late], np.log(np.linalg.norm(x[late], axis=-1)), 1)[0]
            assert abs(slope + 1) < 0.05, slope
    for name, when in (("sign-gd", 1.66), ("coordinate-gd", 1.81), ("normalized-gd", 1.89)):
        assert abs(arrivals[name] - when) <= 0.0051, (name, arrivals[name])  # the dense grid's spacing is 0.005
    # the Filippov regularization the caption states: δ = 4e-6, estimated error ≤ 2e-5
    for spec in specs[:3]:
        flow = sim.integrate(land, spec, a["start"], a[f"flow_dense_t_{specs.index(spec)}"])
        assert flow.stats["smoothing"] == pytest.approx(4e-6, rel=0.01) and flow.stats["smoothing_error"] < 2e-5
        np.testing.assert_allclose(flow.x, a[f"flow_dense_x_{specs.index(spec)}"], atol=1e-9)  # the demo's own flow


def test_sign_descent_runs_compiled_with_numpys_bits_and_the_coupled_norms_do_not():
    from simulate.solvers.engine import not_covered

    land = sim.landscape("rosenbrock")
    opt = sim.optimizer("sign-gd", lr=np.array([1e-3, 0.02]))
    assert not_covered(opt, land) is None
    x0 = np.array([[-1.5, 2.0], [0.5, -0.5]])
    np.testing.assert_array_equal(sim.iterate(land, opt, x0, 300, engine="compiled").x,
                                  sim.iterate(land, opt, x0, 300, engine="numpy").x)
    for spec in ("normalized-gd", "coordinate-gd", "steepest(norm=inf, normalized=false)"):
        assert "no elementwise kernel" in not_covered(sim.optimizer(spec), land)
