"""The Polyak step and its target-value flow (theory §10.10), against exact facts."""

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.order import order
from simulate.landscapes.formula import FormulaLandscape
from simulate.solvers.continuous import euler_step
from simulate.optimizers.polyak import TargetWarning
from simulate.solvers.trajectory import FAILED

from helpers import demo_data, run_steps

ROSE = sim.landscape("rosenbrock")
Q = sim.landscape("quadratic(eigenvalues=(1, 10))")
# convex: ½xᵀ[[2, 1.2], [1.2, 1]]x + 0.1x⁴ (theory §10.9's test function), x* = 0, f* = 0
QUARTIC = FormulaLandscape("x**2 + 1.2*x*y + 0.5*y**2 + 0.1*x**4", bounds=((-2, 2), (-2, 2)), minima=((0, 0),))


def relative_gap_error(land, fl, f_star=0.0):
    """max over the samples of |(f(x(t)) − f*)/((f(x₀) − f*)e^{−t}) − 1|."""
    gap = land.value(fl.x) - f_star
    return np.max(np.abs(gap / (gap[0] * np.exp(-fl.t)) - 1))


# -- the flow: f − f* = (f₀ − f*)e^{−t} exactly, on any landscape -------------------------------------
def test_the_gap_decays_as_exp_minus_t_along_the_flow_on_a_quadratic():
    fl = sim.integrate(Q, "polyak(c=1)", [1.0, 1.0], t=np.linspace(0, 25, 51), method="DOP853", rtol=1e-12,
                       atol=1e-14)
    assert relative_gap_error(Q, fl) < 1e-9  # measured 3.6e-10


def test_the_gap_decays_as_exp_minus_t_along_the_flow_on_rosenbrock():
    """Before the valley with DOP853, and through it to t = 25 with LSODA (the flow is stiff in the
    valley, where ‖∇f‖ is small against f − f*: theory §10.10)."""
    fl = sim.integrate(ROSE, "polyak(c=1, f_star=0)", [-1.2, 1.0], t=np.linspace(0, 2, 21), method="DOP853",
                       rtol=1e-12, atol=1e-14)
    assert relative_gap_error(ROSE, fl) < 1e-10  # measured 4e-12
    fl = sim.integrate(ROSE, "polyak(c=1, f_star=0)", [-1.2, 1.0], t=np.linspace(0, 25, 51), method="LSODA",
                       rtol=1e-12, atol=1e-14)
    assert relative_gap_error(ROSE, fl) < 1e-6  # measured 2.6e-7
    np.testing.assert_allclose(fl.x[-1], [1.0, 1.0], atol=1e-4)


@pytest.mark.slow
def test_the_gap_decays_as_exp_minus_t_on_rosenbrock_to_t_25_with_dop853():
    """theory §10.10 [C]: 7.2e-9 relative for t ∈ [0, 25], DOP853 at rtol 1e-12 (measured here 6.3e-9)."""
    fl = sim.integrate(ROSE, "polyak(c=1, f_star=0)", [-1.2, 1.0], t=np.linspace(0, 25, 51), method="DOP853",
                       rtol=1e-12, atol=1e-14)
    assert relative_gap_error(ROSE, fl) < 2e-8


def test_the_flow_is_the_minimum_norm_solution_of_the_target_equation():
    """⟨∇f, ẋ⟩ = −(f − f*) and ẋ ∥ ∇f (so ẋ is the least-norm solution), and d|f − f*|/dt = −|f − f*|."""
    opt = sim.optimizer("polyak(f_star=-0.5)")
    x = np.random.default_rng(1).normal(size=(20, 2))
    v = opt.field(0.0, {"x": x}, ROSE)["x"]
    g, gap = ROSE.grad(x), ROSE.value(x) + 0.5
    np.testing.assert_allclose(np.einsum("ki,ki->k", g, v), -gap, rtol=1e-13)
    np.testing.assert_allclose(v[:, 0] * g[:, 1] - v[:, 1] * g[:, 0], 0, atol=1e-12 * np.max(np.abs(v * g)))
    np.testing.assert_allclose(opt.lift_energy({"x": x}, ROSE), np.abs(gap), rtol=1e-15)
    assert opt.lift_energy_name == "|f − f*|"


def test_the_jacobian_is_the_fields_derivative():
    opt = sim.optimizer("polyak(f_star=0)")
    x, e = np.array([-0.7, 0.4]), 1e-6
    J = opt.jacobian(0.0, {"x": x}, ROSE)
    fd = np.stack([(opt.field(0, {"x": x + e * d}, ROSE)["x"] - opt.field(0, {"x": x - e * d}, ROSE)["x"]) / (2 * e)
                   for d in np.eye(2)], axis=-1)
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-7)


# -- the step: Polyak's formula, the flow's Euler step ----------------------------------------------
def test_the_step_is_polyaks_formula_and_the_explicit_euler_step_of_the_flow():
    opt = sim.optimizer("polyak(c=0.3, f_star=0)")
    x0 = np.array([-1.2, 1.0])
    iterates = run_steps(opt, ROSE, x0, 50)
    state = opt.flow_init(x0, ROSE)
    for k in range(1, 51):
        x = iterates[k - 2] if k > 1 else x0  # step by step from the same point (rounding is not compounded)
        g = ROSE.grad(x)
        np.testing.assert_allclose(iterates[k - 1], x - 0.3 * ROSE.value(x) / (g @ g) * g, rtol=1e-14, atol=1e-15)
        state = euler_step(ROSE, opt, state, k)
        np.testing.assert_array_equal(state["x"], iterates[k - 1])  # h = c: the same float operations
    np.testing.assert_array_equal(opt.time_per_step, 0.3)


def test_one_step_on_a_1d_quadratic_multiplies_f_by_one_minus_half_c_squared():
    """f = λx²/2: x⁺ = x − c·(λx²/2)/(λx)·… = (1 − c/2)x, so f⁺/f = (1 − c/2)² (1/4 for c = 1; the flow: e^{−c})."""
    land = sim.landscape("quadratic(eigenvalues=(3,))")
    c = np.array([0.1, 0.5, 1.0, 1.5, 1.9])
    run = sim.iterate(land, sim.optimizer("polyak", c=c, f_star=0.0), [0.8], 5)
    f = land.value(run.x)
    np.testing.assert_allclose(f[1:] / f[:-1], np.broadcast_to((1 - c / 2) ** 2, f[1:].shape), rtol=1e-13)


def test_the_discrete_distance_inequality_on_a_convex_function():
    """‖x⁺ − x*‖² ≤ ‖x − x*‖² − c(2 − c)(f − f*)²/‖g‖² (theory §10.10; from ⟨g, x − x*⟩ ≥ f − f*)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(2000, 2))
    c = rng.uniform(0.05, 1.95, size=2000)
    opt = sim.optimizer("polyak", c=c, f_star=0.0)
    x_new = opt.step(opt.init(x), QUARTIC, 1)["x"]
    g = QUARTIC.grad(x)
    bound = np.sum(x * x, -1) - c * (2 - c) * QUARTIC.value(x) ** 2 / np.sum(g * g, -1)
    residual = np.sum(x_new * x_new, -1) - bound
    assert np.max(residual) <= 1e-12 * np.max(np.sum(x * x, -1))
    assert np.min(residual) < -1e-3  # not an equality: the slack is ⟨g, x − x*⟩ − (f − f*) ≥ 0


def test_a_stationary_point_is_kept_without_nan():
    """g = 0 with f > f*: the step is 0 (the iterate stays), the field 0, the Jacobian finite."""
    opt = sim.optimizer("polyak(f_star=-1)")
    x = np.array([[1.0, 1.0], [0.0, 0.0]])  # rosenbrock's minimum (f = 0 > f* = −1); saddle's centre
    np.testing.assert_array_equal(opt.step(opt.init(x[:1]), ROSE, 1)["x"], x[:1])
    saddle = sim.landscape("saddle")
    np.testing.assert_array_equal(opt.step(opt.init(x[1:]), saddle, 1)["x"], x[1:])
    np.testing.assert_array_equal(opt.field(0.0, {"x": x[:1]}, ROSE)["x"], 0.0)
    assert np.all(np.isfinite(opt.jacobian(0.0, {"x": x[:1]}, ROSE)))


# -- iterates against the flow: order 1 in c --------------------------------------------------------------
def test_the_iterates_approach_the_flow_at_order_one_in_c():
    """A non-stiff problem (theory §10.10: Rosenbrock's valley is stiff). Relative f error at t = 5
    (theory: 8.2e-2, 8.4e-3, 8.5e-4 on its quadratic; here 6.8e-2, 6.9e-3, 7.0e-4 on quadratic(1, 10))."""
    r = order(Q, "polyak(c=0.1)", [1.0, 1.0], lrs=[0.1, 0.01, 0.001], horizon=5.0)
    assert set(r.status) == {"ok"} and r.observed_order == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(r.time_per_step, [0.1, 0.01, 0.001])
    f0 = Q.value(np.array([1.0, 1.0]))
    errors = [abs(Q.value(sim.iterate(Q, f"polyak(c={c})", [1.0, 1.0], int(round(5 / c))).x[-1]) / (f0 * np.exp(-5)) - 1)
              for c in (0.1, 0.01, 0.001)]
    np.testing.assert_allclose(errors, [6.84e-2, 6.95e-3, 6.96e-4], rtol=0.01)


# -- hyperparameters: c is lr, f* from the landscape, refusals ---------------------------------------------
def test_c_names_the_step_size_in_specs_sweeps_and_labels():
    opt = sim.optimizer("polyak(c=0.5, f_star=0)")
    assert float(opt.lr) == 0.5 and float(opt.f_star) == 0.0
    assert opt.spec == opt.label == "polyak(c=0.5, f_star=0)" and sim.optimizer(opt.spec) == opt
    assert sim.optimizer("polyak", c=0.5) == sim.optimizer("polyak", lr=0.5)
    assert opt.sweepable()["c"] == ("lr", None)
    line = sim.landscape("quadratic(eigenvalues=(3,))")  # f₀ = 0.96; after 3 steps f₀(1 − c/2)⁶
    swept = sim.sweep(line, "polyak(f_star=0)", {"c": [0.5, 1.0]}, start=[0.8], steps=3)
    np.testing.assert_allclose(swept.metrics["final_loss"], [[0.96 * 0.75**6, 0.96 * 0.5**6]], rtol=1e-14)
    assert sim.optimizer("polyak").spec == "polyak(c=1)"


def test_f_star_defaults_to_the_landscapes_lowest_listed_minimum():
    land = FormulaLandscape("(x-1)**2 + y**2 + 3", bounds=((-1, 3), (-2, 2)), minima=((1, 0),))
    x = np.array([2.0, 0.5])
    given = sim.optimizer("polyak(f_star=3)").step({"x": x}, land, 1)["x"]
    assert sim.optimizer("polyak").f_star is None
    np.testing.assert_array_equal(sim.optimizer("polyak").step({"x": x}, land, 1)["x"], given)
    # himmelblau: four minima, all at 0; six-hump camel: the lower pair at ≈ −1.0316
    from simulate.optimizers.polyak import target_value
    camel = sim.landscape("six-hump-camel")
    assert float(target_value(None, camel)) == pytest.approx(-1.031628453, abs=1e-8)


@pytest.mark.parametrize("spec, match", [
    ("polyak(c=2)", r"c \(stored as lr\) must be in \(0, 2\).*got 2"),
    ("polyak(c=0)", "lr must be > 0"),
    ("polyak(c=1, lr=1)", "c and lr are the same hyperparameter"),
    ("polyak(f_star=nan)", "f_star"),
    ("polyak(gamma=1)", "polyak has no hyperparameter 'gamma'"),
])
def test_refusals_name_the_value_and_why(spec, match):
    with pytest.raises(ValueError, match=match):
        sim.optimizer(spec)


def test_a_landscape_without_listed_minima_needs_f_star():
    with pytest.raises(ValueError, match="the landscape saddle lists no minima.*give f_star"):
        sim.iterate("saddle", "polyak", [1.0, 0.5], steps=2)
    run = sim.iterate("saddle", "polyak(f_star=-1)", [1.0, 0.5], steps=2)  # a lower bound given: it runs
    assert np.all(np.isfinite(run.x))


# -- the demo "target-steers": its caption's facts, on its own data --------------------------------------
@pytest.fixture(scope="module")
def target_steers(demo_written):
    return demo_data(demo_written("target-steers"))


def test_target_steers_caption_holds_in_its_data(target_steers):
    a = target_steers
    assert [str(s) for s in a["specs"]] == ["gd(lr=0.2)", "polyak(c=0.2)"]
    np.testing.assert_array_equal([a["iterates_time_per_step_0"], a["iterates_time_per_step_1"]], 0.2)
    # Polyak's flow: f − f* = (f₀ − f*)e^(−t), relative deviation 5e-9 (f* = 0)
    f, t = a["flow_dense_f_1"], a["flow_dense_t_1"]
    assert t[-1] == pytest.approx(10.0) and np.max(np.abs(f / (f[0] * np.exp(-t)) - 1)) < 1e-8
    # GD's flow slows to the rate 2·λmin = 0.2 and ends at 0.13·f₀
    g, tg = a["flow_f_0"], a["flow_t_0"]
    assert np.log(g[-1] / g[-6]) / (tg[-1] - tg[-6]) == pytest.approx(-0.2, rel=1e-3)
    assert g[-1] / g[0] == pytest.approx(0.1336, abs=5e-4)
    # Polyak's iterates end at 0.59 × the flow's e^(−10)·f₀; the 1-D per-step factor predicts 0.585
    it = a["iterates_f_1"]
    assert it[-1] / (it[0] * np.exp(-10)) == pytest.approx(0.59, abs=0.005)
    assert ((1 - 0.1) ** 2 * np.exp(0.2)) ** 50 == pytest.approx(0.585, abs=5e-4)
    assert it[-1] < 1e-3 * a["iterates_f_0"][-1]  # far below GD's


# -- a target above the lowest minimum, or above f(x0) ------------------------------------------------
HIMMELBLAU = sim.landscape("himmelblau")  # f(0, 0) = 170, four minima at f = 0


def test_a_target_above_the_lowest_minimum_warns_and_the_run_ends_on_its_level_set():
    from simulate.optimizers.polyak import TargetWarning

    with pytest.warns(TargetWarning, match=r"f_star=5 is above the lowest minimum value of himmelblau, f=0: the run "
                                           r"stops on the level set f = 5"):
        run = sim.iterate(HIMMELBLAU, "polyak(f_star=5)", [0.0, 0.0], steps=30)
    assert run.f[-1] == pytest.approx(5.0, abs=1e-10)  # the level set f = f*, not a minimum (f = 0)


@pytest.mark.parametrize("spec", ["polyak", "polyak(f_star=0)"])
def test_a_target_at_the_lowest_minimum_is_silent(spec):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.iterate(HIMMELBLAU, spec, [0.0, 0.0], steps=3)


def test_a_lower_bound_runs_and_says_where_its_flow_ends():
    # f* = −1 < min f = 0: the flow ends at t* = ln((170 + 1)/(0 + 1)), said before the run goes on
    with pytest.warns(TargetWarning, match=rf"below the lowest minimum .* t\* = .* = {np.log(171.0):.4g} from this start"):
        run = sim.iterate(HIMMELBLAU, "polyak(f_star=-1)", [0.0, 0.0], steps=3)
    assert np.all(np.isfinite(run.x))


def test_a_target_above_the_start_is_refused_for_the_iterates_and_the_flow():
    why = r"f_star=200 is above f at the start \(0, 0\), f\(x0\)=170: there f − f\* < 0, so the step .* points uphill"
    with pytest.raises(ValueError, match=why):
        sim.iterate(HIMMELBLAU, "polyak(f_star=200)", [0.0, 0.0], steps=3)
    with pytest.raises(ValueError, match=why):
        sim.integrate(HIMMELBLAU, "polyak(f_star=200)", [0.0, 0.0], t=[0.0, 1.0])
    # one start of a batch above it is enough, and the message names that start
    with pytest.raises(ValueError, match=r"f_star=5 is above f at the start \(3, 2\)"):
        sim.iterate(HIMMELBLAU, "polyak(f_star=5)", [[0.0, 0.0], [3.0, 2.0]], steps=3)


def test_the_command_line_says_the_target_warning_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner
    from simulate.cli.app import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plot", "-o", "polyak(f_star=5)", "--steps", "20"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(said) == 1 and "f_star=5 is above the lowest minimum value of himmelblau" in said[0]


def test_a_lower_bound_target_flow_ends_at_the_minimum_in_finite_time():
    # f* = −1 below Himmelblau's minimum value 0: f − f* = (f0 − f*)e^(−t) reaches f(x*) − f* = 1 at
    # t* = ln(f0 + 1), where the flow's speed is unbounded; it ends there and rests at x*
    land = sim.landscape("himmelblau")
    x0 = np.array([0.0, 0.0])
    t_star = np.log(land.value(x0) + 1.0)
    flow = sim.integrate(land, sim.optimizer("polyak(f_star=-1)"), x0, steps=100)
    message = str(flow.message)
    assert "reached a stationary point above its target" in message and flow.status != FAILED
    arrived = float(message.rsplit("t = ", 1)[1].rstrip(")"))
    np.testing.assert_allclose(arrived, t_star, rtol=1e-6)
    np.testing.assert_allclose(flow.x[-1], [3.0, 2.0], atol=1e-6)
    after = flow.t > arrived
    assert after.sum() > 10 and np.all(flow.x[after] == flow.x[-1])
    before = flow.t < 0.9 * t_star  # and before it, the identity holds
    np.testing.assert_allclose(flow.f[before] + 1.0, (land.value(x0) + 1.0) * np.exp(-flow.t[before]), rtol=1e-6)


def test_with_the_minimum_value_as_target_the_flow_never_ends_early():
    flow = sim.integrate(sim.landscape("himmelblau"), sim.optimizer("polyak"), np.array([0.0, 0.0]), steps=20)
    assert "stationary point" not in str(flow.message) and np.all(np.isfinite(flow.x))
    np.testing.assert_allclose(flow.f[-1], 170.0 * np.exp(-20.0), rtol=1e-4)  # on to the end, on the identity
