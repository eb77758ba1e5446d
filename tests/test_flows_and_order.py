"""Continuous models (simulate.models) and observed convergence orders (simulate.analysis.order), against exact facts."""

import json

import numpy as np
import pytest
from scipy.special import gamma, jv

import simulate as sim
from simulate.cli.app import main
from simulate.models import FLOWS, available_flows, flow, rescale
from simulate.analysis.order import fit_order, order, order_study
from simulate.viz.figures import order_figure
from simulate.viz.plotting import plot_order
from helpers import sign_flow_errors

Q = sim.landscape("quadratic(eigenvalues=(1, 10))")  # start (1, 1)... its default start
X0 = np.array([1.0, 1.0])


# -- choosing a model -------------------------------------------------------------------------------
def test_unknown_and_unavailable_flows_say_what_exists():
    with pytest.raises(ValueError, match="Did you mean 'modified'"):
        flow(sim.optimizer("gd"), "modifed")
    with pytest.raises(ValueError, match="adam has: exact, limit, ema"):
        flow(sim.optimizer("adam"), "modified")
    with pytest.raises(ValueError, match="nag-c has no exact lift"):
        flow(sim.optimizer("nag-c"), "exact")
    assert available_flows(sim.optimizer("gd")) == ["exact", "limit", "modified", "modified2"]
    assert available_flows(sim.optimizer("momentum")) == ["exact", "limit", "modified", "oscillator", "highres"]
    assert flow(sim.optimizer("nag-c")).kind == "limit"  # its own model by default
    with pytest.raises(ValueError, match="oscillator flow"):
        sim.integrate(Q, "adam", X0, steps=3, flow="oscillator")


def test_every_flow_is_available_for_some_optimizer_and_says_its_clock_and_scaling():
    seen = {kind for name in sim.OPTIMIZERS for kind in available_flows(sim.optimizer(name))}
    assert seen == set(FLOWS)
    assert "time per step √lr" in flow(sim.optimizer("momentum"), "oscillator").description
    assert "1 − β ∝ lr" in flow(sim.optimizer("adam"), "ema").description
    assert "β fixed" in flow(sim.optimizer("momentum"), "limit").description


def test_rescale_holds_each_model_fixed():
    hb = sim.optimizer("momentum", lr=0.01, momentum=0.9)
    lin = rescale(hb, 0.0025, "linear")  # (1 − μ)/lr and (1 − τ)/lr kept
    assert (1 - lin.momentum) / lin.lr == pytest.approx(10.0) and (1 - lin.dampening) / lin.lr == pytest.approx(100.0)
    sq = rescale(hb, 0.0025, "sqrt")  # (1 − μ)/√lr kept: Su's rule μ → 1 − (1 − μ)√r
    assert (1 - sq.momentum) / np.sqrt(sq.lr) == pytest.approx(1.0)
    assert rescale(hb, 0.0025, "fixed").momentum == 0.9
    gd = rescale(sim.optimizer("gd", lr=0.1), 0.05, "linear")
    assert gd.momentum == 0 and gd.dampening == 0  # GD stays GD
    adam = rescale(sim.optimizer("adam", lr=0.01, betas=(0.9, 0.99)), 0.001, "linear")
    np.testing.assert_allclose((1 - np.array(adam.betas, float)) / 0.001, [10.0, 1.0])
    ada = rescale(sim.optimizer("adagrad", lr=0.1, initial_accumulator_value=2.0), 0.05, "linear")
    assert ada.lr**2 * ada.initial_accumulator_value == pytest.approx(0.1**2 * 2.0)
    with pytest.raises(ValueError, match="cannot rescale .* dampening"):
        rescale(hb, 0.02, "linear")  # would need dampening < 0
    with pytest.raises(ValueError, match="sqrt scaling"):
        rescale(sim.optimizer("adam"), 0.001, "sqrt")


# -- gradient descent and its modified equations ------------------------------------------------------
def test_gd_orders_are_one_two_three_against_flow_modified_and_second_modified():
    for land, lr in ((Q, 0.02), (sim.landscape("himmelblau"), 0.01)):
        study = order_study(land, [f"gd(lr={lr})"], ["exact", "modified", "modified2"], horizon=0.5, rungs=5)
        slopes = [r.observed_order for r in study.results]
        np.testing.assert_allclose(slopes, [1, 2, 3], atol=0.1, err_msg=land.label)


def test_gd_on_a_quadratic_follows_the_all_orders_flow_exactly():
    """x_k = exp(−t·rate)x₀ at t = k·lr with rate −log(1 − lr·λ)/lr; the modified flow's rate
    λ + lr·λ²/2 is its first two terms, so it misses by lr²λ³/3 + O(lr³)."""
    lam = np.array([1.0, 10.0])
    for lr in (0.02, 0.01):
        run = sim.iterate(Q, f"gd(lr={lr})", X0, 50)
        rate = -np.log1p(-lr * lam) / lr
        np.testing.assert_allclose(run.x, np.exp(-np.outer(run.t, rate)) * X0, rtol=1e-12)
        modified = sim.integrate(Q, f"gd(lr={lr})", X0, t=run.t, flow="modified", rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(modified.x, np.exp(-np.outer(run.t, lam + lr * lam**2 / 2)) * X0, rtol=1e-9)
        gap = np.log(modified.x[-1] / run.x[-1]) / run.t[-1]  # the rate the modified flow misses
        np.testing.assert_allclose(gap, rate - lam - lr * lam**2 / 2, rtol=1e-6)
        assert gap[0] == pytest.approx(lr**2 / 3, rel=0.05)  # lr·λ small: the next Taylor term


def test_second_order_modified_field_uses_the_third_derivative():
    """The ∇³f[g, g] term is what makes order 3: dropping it leaves order 2 off quadratics."""
    from simulate.models import third_derivative

    land = sim.landscape("himmelblau")
    x, u = np.array([0.3, -0.7]), np.array([0.4, 1.1])
    e = 1e-4  # central difference of the Hessian along u, then contracted with u
    fd = (land.hess(x + e * u) - land.hess(x - e * u)) @ u / (2 * e)
    np.testing.assert_allclose(third_derivative(land, x, u), fd, rtol=1e-6)
    assert np.all(np.abs(third_derivative(Q, x, u)) < 1e-10)  # a quadratic's is 0 (to rounding)


# -- momentum: fixed β, modified flows, the oscillator ---------------------------------------------
@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_modified_flow_with_its_lag_is_second_order(name):
    r = order(sim.landscape("himmelblau"), f"{name}(lr=0.002, momentum=0.5)", flow="modified", horizon=0.5, rungs=4)
    assert r.metric == "late"  # the fast mode starts O(lr) away and decays like μ^k
    assert r.observed_order == pytest.approx(2.0, abs=0.12)
    r9 = order(Q, f"{name}(lr=0.001, momentum=0.9)", flow="modified", horizon=0.5, rungs=4)
    assert r9.observed_order == pytest.approx(2.0, abs=0.12)


def test_momentum_modified_flow_coefficients_and_lag_from_the_slow_root():
    """On λ: the slow eigenvalue z of one step has −log z/lr = λ/(1−μ)·(1 + 2c·lr·λ) + O(lr²)."""
    lr, lam = 1e-4, 1.0
    for nesterov, mu in ((False, 0.5), (True, 0.5), (False, 0.9), (True, 0.9)):
        if nesterov:  # torch Nesterov on λ, state (b, x): b' = μb + λx, x' = x − lr(λx + μb')
            A = np.array([[mu, lam], [-lr * mu * mu, 1 - lr * lam * (1 + mu)]])
        else:
            A = np.array([[mu, lam], [-lr * mu, 1 - lr * lam]])
        z = max(np.linalg.eigvals(A).real)
        model = flow(sim.optimizer("nesterov" if nesterov else "momentum", lr=lr, momentum=mu), "modified")
        c, speed = model.coefficient()
        predicted = speed * lam * (1 + 2 * c * lr * lam)
        assert -np.log(z) / lr == pytest.approx(predicted, rel=5 * (lr * lam / (1 - mu) ** 2) ** 2 * 100)


def test_heavy_ball_converges_to_its_fixed_beta_limit():
    r = order(Q, "momentum(lr=0.0002, momentum=0.9)", flow="limit", horizon=0.5, rungs=5)
    local = np.diff(np.log(r.error)) / np.diff(np.log(r.time_per_step))
    assert np.all(np.diff(r.error) < 0) and local[-1] == pytest.approx(1.0, abs=0.1)


def test_oscillator_flow_is_the_damped_oscillator_closed_form():
    """ẍ + γẋ + λx = 0, x(0) = 1, ẋ(0) = 0: x = e^{−γt/2}(cos ωt + γ/(2ω)·sin ωt), ω² = λ − γ²/4."""
    land = sim.landscape("quadratic(eigenvalues=(4,))")
    lr, mu = 0.01, 0.8  # γ = 0.2/0.1 = 2, ω = √3
    fl = sim.integrate(land, f"momentum(lr={lr}, momentum={mu})", [1.0], steps=400, flow="oscillator",
                       rtol=1e-11, atol=1e-13)
    t, w = fl.t, np.sqrt(3.0)
    np.testing.assert_allclose(fl.t[1], 0.1)  # time per step √lr
    np.testing.assert_allclose(fl.x[:, 0], np.exp(-t) * (np.cos(w * t) + np.sin(w * t) / w), atol=1e-9)
    np.testing.assert_allclose(fl.state["v"][1:-1, 0], np.gradient(fl.x[:, 0], t)[1:-1], atol=2e-2)


def test_heavy_ball_in_the_oscillator_scaling_converges_at_order_half_in_lr():
    r = order(sim.landscape("quadratic(eigenvalues=(1, 4))"), "momentum(lr=0.015625, momentum=0.75)",
              flow="oscillator", horizon=5.0, rungs=5, ratio=4.0)
    assert r.scaling == "sqrt"
    np.testing.assert_allclose([(1 - o.momentum) / np.sqrt(o.lr) for o in r.rungs], 2.0)  # γ held
    assert r.observed_order == pytest.approx(1.0, abs=0.08) and r.observed_order_in_lr == pytest.approx(0.5, abs=0.04)


# -- Nesterov's NAG-C and the Su–Boyd–Candès ODE ----------------------------------------------------
@pytest.mark.parametrize("r", [3.0, 5.0])
def test_nag_c_ode_matches_the_bessel_closed_form(r):
    """X(t) = x₀·Γ(ν+1)(2/(√λ t))^ν J_ν(√λ t), ν = (r−1)/2, per eigenvalue (theory §3)."""
    lam = np.array([0.04, 0.01])
    land = sim.landscape("quadratic(eigenvalues=(0.04, 0.01))")
    fl = sim.integrate(land, f"nag-c(lr=0.25, r={r})", X0, steps=200, rtol=1e-12, atol=1e-14)
    nu = (r - 1) / 2
    z = np.sqrt(lam) * fl.t[1:, None]
    closed = gamma(nu + 1) * (2 / z) ** nu * jv(nu, z) * X0
    np.testing.assert_allclose(fl.x[1:], closed, atol=1e-9)
    assert np.all(fl.x[0] == X0)


def test_nag_c_iterates_approach_the_ode_at_order_half_in_s():
    """theory §3: on f = x², max error 0.32, 0.10, 0.033 for s = 0.1, 0.01, 0.001."""
    land = sim.landscape("quadratic(eigenvalues=(2,))")
    r = order(land, "nag-c(lr=0.1)", [1.0], lrs=[0.1, 0.01, 0.001], horizon=20.0)
    np.testing.assert_allclose(r.error, [0.3171, 0.1036, 0.0334], rtol=0.02)
    assert r.observed_order_in_lr == pytest.approx(0.5, abs=0.03) and r.observed_order == pytest.approx(1.0, abs=0.06)
    np.testing.assert_allclose(r.time_per_step, np.sqrt(r.lr))


def test_nag_c_iterate_is_nesterovs_scheme():
    land = sim.landscape("rosenbrock")
    run = sim.iterate(land, "nag-c(lr=0.0005)", [-1.2, 1.0], 6)
    x_prev, x, y = np.array([-1.2, 1.0]), np.array([-1.2, 1.0]), np.array([-1.2, 1.0])
    for k in range(1, 7):  # x_k = y_{k−1} − s∇f(y_{k−1}); y_k = x_k + (k−1)/(k+2)(x_k − x_{k−1})
        x_prev, x = x, y - 0.0005 * land.grad(y)
        y = x + (k - 1) / (k + 2) * (x - x_prev)
        np.testing.assert_allclose(run.x[k], x, rtol=1e-14)


# -- adaptive methods -----------------------------------------------------------------------------
def test_adam_with_fixed_betas_approaches_the_sign_flow_closed_form():
    """x_i(t) = sign(x_i0)·max(|x_i0| − t, 0), independent of the curvatures 1 and 100."""
    lrs = 1e-3 / 2.0 ** np.arange(5)
    errors = sign_flow_errors("adam", lrs)
    land, x0, T = sim.landscape("quadratic(eigenvalues=(1, 100))"), np.array([1.0, 0.8]), 0.5  # the helper's
    assert np.all(np.diff(errors) < 0) and errors[-1] < 1e-2
    assert fit_order(lrs, errors)[0] > 0.75  # v's memory (100 steps) must be short against T: slowly
    fl = sim.integrate(land, "adam(lr=0.001)", x0, t=np.linspace(0, T, 11), flow="limit", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fl.x, np.sign(x0) * np.maximum(np.abs(x0) - fl.t[:, None], 0), atol=1e-6)


def test_adam_converges_to_the_barakat_bianchi_ode_at_order_one():
    r = order(Q, "adam(lr=0.01, betas=(0.9, 0.99))", flow="ema", horizon=0.5, rungs=5)
    assert r.scaling == "linear" and r.observed_order == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose([(1 - o.betas[0]) / o.lr for o in r.rungs], 10.0)
    model = flow(sim.optimizer("adam", lr=0.01), "ema")
    start = model.init(X0, Q)  # the bias-corrected moments take their limits at t = 0
    np.testing.assert_allclose(model.field(0.0, start, Q)["x"], -np.sign(Q.grad(X0)), rtol=1e-7)


# One optimizer, its own model, a ladder in the asymptotic regime: order 1 in h (RK: their order).
OWN_FLOW_ORDERS = [
    ("gd(lr=0.02)", "exact", {}, 1.0),
    ("momentum(lr=0.01, momentum=0.5)", "exact", {"lrs": 0.01 / 2.0 ** np.arange(4, 8)}, 1.0),
    ("nesterov(lr=0.01, momentum=0.5)", "exact", {"lrs": 0.01 / 2.0 ** np.arange(4, 8)}, 1.0),
    ("momentum(lr=0.0002, momentum=0.9)", "limit", {"lrs": 0.0002 / 2.0 ** np.arange(2, 5)}, 1.0),
    ("rmsprop(lr=0.001)", "limit", {}, 1.0),
    ("adam(lr=0.01, betas=(0.9, 0.99))", "ema", {}, 1.0),
    ("adamw(lr=0.01, betas=(0.9, 0.99))", "ema", {}, 1.0),
    ("adagrad(lr=0.1, initial_accumulator_value=10)", "exact", {"lrs": 0.1 / 2.0 ** np.arange(3, 6)}, 1.0),
    ("heun(lr=0.02)", "exact", {}, 2.0),
    ("rk4(lr=0.05)", "exact", {}, 4.0),
    ("proximal(lr=0.02)", "exact", {}, 1.0),
    ("proximal(lr=0.02)", "modified", {}, 2.0),
    ("nag-c(lr=0.1)", "limit", {"horizon": 10.0}, 1.0),
]


@pytest.mark.parametrize("spec,kind,kwargs,expected", OWN_FLOW_ORDERS, ids=lambda v: v if isinstance(v, str) else "")
def test_every_optimizer_approaches_its_own_flow_at_its_order(spec, kind, kwargs, expected):
    land = sim.landscape("quadratic(eigenvalues=(0.04, 0.01))") if spec.startswith("nag") else Q
    r = order(land, spec, flow=kind, **{"horizon": 0.5, "rungs": 5, **kwargs})
    assert set(r.status) == {"ok"}
    assert r.observed_order == pytest.approx(expected, abs=0.1 * expected)
    assert r.expected_order == expected


@pytest.mark.parametrize("spec", ["rmsprop(lr=0.01)", "adagrad(lr=0.1)"])
def test_adaptive_lifts_started_at_zero_state_converge_at_order_half(spec):
    """From v = 0 (s = 0) the lift moves like 2√(t/b) at first (ẋ ~ 1/√t); Euler's sum of that
    singular start misses the integral by O(√h): order ½, not 1."""
    r = order(Q, spec, flow="exact", horizon=0.5, rungs=5)
    assert r.observed_order == pytest.approx(0.47, abs=0.07)


# -- the command and the figure -----------------------------------------------------------------
def test_order_figure_draws_the_measured_errors_and_the_fitted_slope():
    study = order_study(Q, ["gd(lr=0.02)", "heun(lr=0.02)"], None, horizon=0.3, rungs=3)
    fig = order_figure(study, x="evaluations")
    ax = fig.axes[0]
    points = [line for line in ax.lines if line.get_marker() == "o"]
    for line, r in zip(points, study.results):
        np.testing.assert_allclose(line.get_xdata(), r.evaluations)
        np.testing.assert_allclose(line.get_ydata(), r.error)
    np.testing.assert_array_equal(study.results[1].evaluations, 2 * study.results[0].evaluations)
    labels = ax.get_legend_handles_labels()[1]
    assert any(f"slope {-study.results[1].observed_order:.2f}" in s for s in labels)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="x must be one of"):
        plot_order(study.results[0], ax, x="time")


def test_order_command_writes_figure_and_the_table_three_ways(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["order", "-l", "quadratic(eigenvalues=(1, 10))", "--horizon", "0.3", "--rungs", "4",
                 "--data", "o.npz"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "o.json").read_text())
    orders = [ladder["observed_order"] for ladder in summary["ladders"]]
    assert [ladder["flow"] for ladder in summary["ladders"]] == ["exact", "modified", "modified2"]
    np.testing.assert_allclose(orders, [1, 2, 3], atol=0.15)
    rows = (tmp_path / "o.csv").read_text().splitlines()
    assert rows[0].startswith("ladder,flow,scaling,metric,optimizer,lr,") and len(rows) == 1 + 3 * 4
    data = np.load(tmp_path / "o.npz")
    np.testing.assert_allclose(data["ladder1_observed_order"], orders[1])
    assert (tmp_path / "simulate_order.png").exists()
    capsys.readouterr()
    assert main(["order", "-o", "adam", "-f", "modified", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "adam has: exact, limit, ema" in err and not (tmp_path / "x.png").exists()


def test_plot_draws_the_model_it_is_asked_for_on_its_clock():
    res = sim.plot(Q, ["momentum(lr=0.01, momentum=0.8)"], X0, steps=20, flow="oscillator")
    e = res.experiment.entries[0]
    assert e.flow.flow == "oscillator" and res.experiment.flow == "oscillator"
    np.testing.assert_allclose(e.iterates.t[1], 0.1)  # h = √lr for both
    np.testing.assert_allclose(e.flow_at_steps.t, e.iterates.t)
    legend = [t.get_text() for t in res.figure.axes[0].get_legend().get_texts()]
    assert "continuous flow (oscillator)" in legend
    modified = sim.plot(Q, ["gd(lr=0.05)"], X0, steps=20, flow="modified").experiment.entries[0]
    exact = sim.plot(Q, ["gd(lr=0.05)"], X0, steps=20).experiment.entries[0]
    assert modified.comparison.final < exact.comparison.final / 10  # the modified flow is the closer model


@pytest.mark.parametrize("spec,land", [
    ("momentum(lr=0.015625, momentum=0.75)", "quadratic(eigenvalues=(1, 4))"),
    ("nesterov(lr=0.000625, momentum=0.9)", "himmelblau"),
    ("nag-c(lr=0.1)", "quadratic(eigenvalues=(2,))"),
])
def test_high_resolution_odes_are_one_order_closer_than_the_low_resolution_ones(spec, land):
    """Shi et al.: the O(√s) terms (Hessian damping for Nesterov) raise the order in √s from 1 to 2."""
    land = sim.landscape(land)
    low = "limit" if spec.startswith("nag") else "oscillator"
    kw = dict(rungs=4, ratio=4.0, horizon={"mom": 2.0, "nes": 5.0, "nag": 10.0}[spec[:3]])
    high, base = order(land, spec, flow="highres", **kw), order(land, spec, flow=low, **kw)
    assert high.observed_order == pytest.approx(2.0, abs=0.12) and base.observed_order == pytest.approx(1.0, abs=0.12)
    assert np.all(high.error < base.error)


def test_no_energy_is_claimed_where_it_can_rise():
    """AdamW's −λx is not a descent direction of f; SBC's energy needs r ≥ 3 and the landscape's own minimizer."""
    from simulate.models import energy_along

    for spec, kind in (("adamw(lr=0.01, weight_decay=0.5)", "limit"), ("nag-c(lr=0.01, r=1.5)", "limit"),
                       ("nag-c(lr=0.01, weight_decay=1.0)", "limit"), ("adam(lr=0.01)", "exact")):
        fl = sim.integrate(Q, spec, X0, steps=5, flow=kind)
        assert energy_along(fl) == (None, ""), spec
    assert energy_along(sim.integrate(Q, "adam(lr=0.01)", X0, steps=5, flow="limit"))[1] == "f"


def test_plot_data_exports_the_sharpness_and_energy_it_draws(tmp_path):
    from simulate.models import energy_along
    from simulate.analysis.sharpness import sharpness_along

    res = sim.plot("scalar-net", ["gd(lr=0.15)", "adam(lr=0.1)"], steps=30, sharpness=True, energy=True)
    res.save(tmp_path / "f.png", data=tmp_path / "f.npz")
    data = np.load(tmp_path / "f.npz")
    gd, adam = res.experiment.entries
    np.testing.assert_array_equal(data["sharpness_0"], sharpness_along(gd.iterates))
    assert data["stability_threshold_0"] == pytest.approx(2 / 0.15) and np.isnan(data["stability_threshold_1"])
    np.testing.assert_array_equal(data["flow_energy_0"], energy_along(gd.flow)[0])
    assert np.all(np.isnan(data["flow_energy_1"]))  # Adam's lift has no known energy
    plain = sim.plot("scalar-net", ["gd(lr=0.15)"], steps=5).experiment.arrays()
    assert not any(k.startswith(("sharpness", "flow_energy")) for k in plain)
