"""Consensus optimization (Mescheder, Nowozin & Geiger 2017): z⁺ = z − lr·(ξ + γ·Jᵀξ).

Exact facts on the bilinear game, its flow ż = −ξ − γJᵀξ and modified equation, γ = 0 as GDA bit
for bit, Dirac-GAN without R1, observed orders, finite-difference checks of the new derivative
code, the loss case (GD on f + γ/2·|∇f|²), validation and the command line."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import simulate as sim
from helpers import central_difference
from simulate.cli.app import app
from simulate.solvers.continuous import euler_step
from simulate.models import available_flows, energy_along, flow
from simulate.optimizers.gameplay import Consensus, field_curvature
from simulate.analysis.sweep import sweep, sweepable

Z0 = [0.8, -0.6]
C = 1.5
LRS = np.array([0.02, 0.1, 0.25])
GAMMAS = np.array([0.0, 0.5, 2.0])


def sample(land, n=20, seed=5):
    return np.random.default_rng(seed).uniform(land.bounds[:, 0], land.bounds[:, 1], size=(n, land.dim))


def r2(x):
    return np.sum(x**2, axis=-1)


# -- exact facts on L = c·x·y: ξ = (c·y, −c·x), J = [[0, c], [−c, 0]], Jᵀξ = c²z --------------------
def test_each_step_multiplies_the_squared_radius_exactly_vectorized_over_lr_and_gamma():
    opt = sim.optimizer("consensus", lr=LRS[:, None], gamma=GAMMAS[None, :])
    run = sim.iterate(sim.landscape("bilinear", c=C), opt, Z0, 60)
    assert run.x.shape == (61, 3, 3, 2) and not run.diverged.any()
    lr, gamma = LRS[:, None], GAMMAS[None, :]
    factor = (1 - lr * gamma * C**2) ** 2 + (lr * C) ** 2
    ratio = r2(run.x[1:]) / r2(run.x[:-1])
    np.testing.assert_allclose(ratio, np.broadcast_to(factor, ratio.shape), rtol=1e-13)
    assert factor[0, 0] > 1 and factor[1, 1] < 1  # γ = 0 spirals out, γ > 0 can contract
    for i, j in [(0, 1), (2, 2)]:  # each member is the scalar run
        alone = sim.iterate(sim.landscape("bilinear", c=C), sim.optimizer("consensus", lr=LRS[i], gamma=GAMMAS[j]), Z0, 60)
        np.testing.assert_array_equal(run.x[:, i, j], alone.x)


def test_weight_decay_is_part_of_the_field_consensus_receives():
    """ξ_λ = (M + λ)z, J_λ = M + λI, J_λᵀξ_λ = (c² + λ²)z: x² + y² × (1 − lr(λ + γ(c² + λ²)))² + (lr·c)²."""
    lr, gamma, lam = 0.1, 0.4, 0.3
    run = sim.iterate(sim.landscape("bilinear", c=C), sim.optimizer("consensus", lr=lr, gamma=gamma, weight_decay=lam),
                      Z0, 40)
    ratio = r2(run.x[1:]) / r2(run.x[:-1])
    np.testing.assert_allclose(ratio, (1 - lr * (lam + gamma * (C**2 + lam**2))) ** 2 + (lr * C) ** 2, rtol=1e-13)
    model = sim.integrate(sim.landscape("bilinear", c=C), sim.optimizer("consensus", lr=lr, gamma=gamma, weight_decay=lam),
                          Z0, steps=100, method="DOP853", rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(r2(model.x), np.exp(-2 * (lam + gamma * (C**2 + lam**2)) * model.t), rtol=1e-9)


@pytest.mark.parametrize("method", ["DOP853", "Radau"])  # Radau uses the lift's Jacobian
def test_flow_shrinks_the_squared_radius_like_exp_minus_two_gamma_c_squared_t(method):
    gammas = np.array([0.0, 0.3, 1.0])
    opt = sim.optimizer("consensus", lr=0.1, gamma=gammas)
    model = sim.integrate(sim.landscape("bilinear", c=C), opt, Z0, steps=80, method=method, rtol=1e-12, atol=1e-16)
    assert model.kind == "flow" and model.flow == "exact" and np.all(model.status == 0)
    np.testing.assert_allclose(model.t[-1], 8.0)  # t = k·lr
    exact = np.exp(-2 * gammas * C**2 * model.t[:, None])
    np.testing.assert_allclose(r2(model.x), exact, rtol=1e-8 if method == "DOP853" else 1e-6)
    assert r2(model.x)[-1, 2] < 1e-15  # γ = 1 decays (e^(−36)), γ = 0 (GDA's flow) circles
    np.testing.assert_allclose(r2(model.x)[:, 0], 1.0, rtol=1e-8)


def test_modified_equation_gives_the_bilinear_rate_to_first_order_in_lr():
    """ż = −A z − lr/2·A²z with A = γc²I + M: |z|² = exp(−(2γc² − lr·c²(1 − γ²c²))t). The iterates'
    rate −log((1 − lrγc²)² + lr²c²)/lr misses it by O(lr²), and misses the flow's 2γc² by O(lr)."""
    gamma = 0.6
    gaps = []
    for lr in (0.02, 0.01):
        model = sim.integrate(sim.landscape("bilinear", c=C), sim.optimizer("consensus", lr=lr, gamma=gamma), Z0,
                              steps=100, flow="modified", method="DOP853", rtol=1e-12, atol=1e-16)
        rate = 2 * gamma * C**2 - lr * C**2 * (1 - gamma**2 * C**2)
        np.testing.assert_allclose(r2(model.x), np.exp(-rate * model.t), rtol=1e-9)
        discrete = -np.log((1 - lr * gamma * C**2) ** 2 + (lr * C) ** 2) / lr
        gaps.append((abs(discrete - rate), abs(discrete - 2 * gamma * C**2)))
    (m1, f1), (m2, f2) = gaps
    assert m1 / m2 == pytest.approx(4, rel=0.1) and f1 / f2 == pytest.approx(2, rel=0.1)


# -- γ = 0 is simultaneous GDA -----------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["bilinear(c=2)", "dirac-gan", "vanilla-gan", "quadratic-game", "himmelblau"])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_gamma_zero_reproduces_gd_bit_for_bit(spec, wd):
    land = sim.landscape(spec)
    gd = sim.iterate(land, sim.optimizer("gd", lr=0.05, weight_decay=wd), None, 200)
    plain = sim.iterate(land, sim.optimizer("consensus", lr=0.05, gamma=0.0, weight_decay=wd), None, 200)
    np.testing.assert_array_equal(plain.x, gd.x)
    batch = sim.iterate(land, sim.optimizer("consensus", lr=0.05, gamma=[0.0, 0.5], weight_decay=wd), None, 200)
    gd_batch = sim.iterate(land, sim.optimizer("gd", lr=[0.05, 0.05], weight_decay=wd), None, 200)
    np.testing.assert_array_equal(batch.x[:, 0], gd_batch.x[:, 0])  # the γ = 0 member of a batch too
    assert not np.allclose(batch.x[-1, 1], gd.x[-1])
    z = sample(land)
    gd_field = sim.optimizer("gd", lr=0.05, weight_decay=wd).field(0.0, {"x": z}, land)["x"]
    opt = sim.optimizer("consensus", lr=0.05, gamma=0.0, weight_decay=wd)
    np.testing.assert_array_equal(opt.field(0.0, {"x": z}, land)["x"], gd_field)
    np.testing.assert_array_equal(flow(opt, "modified").field(0.0, {"x": z}, land)["x"],
                                  flow(sim.optimizer("gd", lr=0.05, weight_decay=wd), "modified").field(0.0, {"x": z}, land)["x"])


# -- Dirac-GAN without R1: GDA does not converge, consensus does ------------------------------------------
def test_consensus_converges_on_the_dirac_gan_where_gda_does_not():
    game = sim.landscape("dirac-gan")  # gamma = 0: no R1 penalty, J(0) has eigenvalues ±i/2
    assert game.gamma == 0
    gd = game.distance(sim.iterate(game, sim.optimizer("gd", lr=0.05), [1.0, 1.0], 4000).x)
    assert gd[-1] > gd[0] and gd.min() > 0.9 * gd[0]  # spirals out
    opt = sim.optimizer("consensus", lr=0.05, gamma=np.array([0.5, 1.0]))
    d = game.distance(sim.iterate(game, opt, [1.0, 1.0], 4000).x)
    assert np.all(d[-1] < 1e-8) and np.all(d[-1] < 1e-8 * d[0])
    flow_d = game.distance(sim.integrate(game, opt, [1.0, 1.0], t=np.linspace(0, 200, 5)).x)
    assert np.all(flow_d[-1] < 1e-6)


@pytest.mark.parametrize("gamma", [0.3, 1.0])
def test_linearization_at_the_dirac_gan_equilibrium_has_real_part_gamma_over_four(gamma):
    """DG(0) = J + γJᵀJ (ξ(0) = 0) with J = [[0, ½], [−½, 0]]: eigenvalues γ/4 ± i/2."""
    opt = sim.optimizer("consensus", gamma=gamma)
    DG = -opt.jacobian(0.0, {"x": np.zeros(2)}, sim.landscape("dirac-gan"))
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(DG)), [gamma / 4 - 0.5j, gamma / 4 + 0.5j], atol=1e-15)


# -- orders ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["dirac-gan(gamma=0.2)", "vanilla-gan",
                                  "quadratic-game(A=[[0.5, 0.1], [0.1, 0.2]], B=[[1, 0.3], [0.2, 1]], C=0.1)", "double-well"])
def test_iterates_approach_the_flow_at_order_one_and_the_modified_equation_at_order_two(spec):
    """A wrong O(lr) term in the modified field (e.g. leaving out Σξᵢ∇²ξᵢ on a nonlinear game) keeps slope 1.
    double-well is a loss (there consensus is GD on f + γ/2·|∇f|²)."""
    loss = spec == "double-well"
    opt = sim.optimizer("consensus", lr=0.02 if loss else 0.1, gamma=0.3 if loss else 0.5)
    horizon = 1.0 if loss else 2.0
    exact = sim.order(spec, opt, flow="exact", horizon=horizon, rungs=4)
    modified = sim.order(spec, opt, flow="modified", horizon=horizon, rungs=4)
    assert exact.observed_order == pytest.approx(1.0, abs=0.08)
    assert modified.observed_order == pytest.approx(2.0, abs=0.1)
    assert np.all(modified.error < exact.error)


def test_the_curvature_term_is_what_makes_the_modified_equation_second_order():
    """Without Σξᵢ∇²ξᵢ·G in DG·G the modified flow misses by O(lr) on the nonlinear Dirac-GAN: slope 1."""

    class Truncated(Consensus):
        def correction(self, z, landscape):
            g, J = self._coupled_grad(z, landscape), self._coupled_hess(z, landscape)
            G = g + self._b(self.gamma) * np.einsum("...ji,...j->...i", J, g)
            JG = np.einsum("...ij,...j->...i", J, G)
            return -0.5 * (JG + self._b(self.gamma) * np.einsum("...ji,...j->...i", J, JG))

    spec = "dirac-gan(gamma=0.2)"
    full = sim.order(spec, Consensus(lr=0.1, gamma=1.0), flow="modified", horizon=2.0, rungs=4)
    cut = sim.order(spec, Truncated(lr=0.1, gamma=1.0), flow="modified", horizon=2.0, rungs=4)
    assert full.observed_order == pytest.approx(2.0, abs=0.1) and cut.observed_order == pytest.approx(1.0, abs=0.15)


# -- finite-difference checks of the new derivative code -----------------------------------------------
NONLINEAR = ["dirac-gan", "dirac-gan(gamma=0.3)", "vanilla-gan", "wgan-gp(c=1, lam=0.2)", "gan-qp(norm='theta', lam=0.5)",
             "himmelblau", "rosenbrock"]


@pytest.mark.parametrize("spec", NONLINEAR)
def test_field_curvature_is_the_derivative_of_j_transpose_w(spec):
    land = sim.landscape(spec)
    z = sample(land)
    rng = np.random.default_rng(1)
    w, u = rng.normal(size=z.shape), rng.normal(size=z.shape)
    got = field_curvature(land, z, w, u)
    along = lambda s: np.einsum("...ji,...j->...i", land.hess(z + s[..., None] * u), w)  # noqa: E731
    fd = central_difference(lambda s: along(s[..., 0]), np.zeros(z.shape[:-1] + (1,)), 1e-5)[..., 0]
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
    assert np.abs(got).max() > 1e-3  # a nonlinear field: the term is not zero


def test_field_curvature_is_exactly_zero_on_linear_games():
    for spec in ["bilinear(c=3)", "quadratic-game(A=[[1, 0], [0, 2]], B=[[1, 2, 0], [0, 1, 1]], C=0.5)"]:
        land = sim.landscape(spec)
        z = sample(land)
        assert np.array_equal(field_curvature(land, z, land.grad(z), z + 1.0), np.zeros_like(z))


@pytest.mark.parametrize("spec", NONLINEAR + ["bilinear"])
def test_lift_jacobian_and_modified_correction_match_differences_of_the_field(spec):
    """jacobian = D(−G) and correction = −DG·G/2, against central differences of the field itself."""
    land = sim.landscape(spec)
    z = sample(land)
    opt = sim.optimizer("consensus", lr=0.1, gamma=0.7, weight_decay=0.05)
    field = lambda x: opt.field(0.0, {"x": x}, land)["x"]  # noqa: E731
    fd = central_difference(field, z, 1e-5)
    J = opt.jacobian(0.0, {"x": z}, land)
    scale = np.abs(J).max()
    np.testing.assert_allclose(J, fd, atol=2e-6 * scale)
    C_ = opt.correction(z, land)
    np.testing.assert_allclose(C_, 0.5 * np.einsum("...ij,...j->...i", fd, -field(z)), atol=2e-6 * np.abs(C_).max())


# -- on a loss: gradient descent on f + γ/2·|∇f|² ---------------------------------------------------------
@pytest.mark.parametrize("spec", ["himmelblau", "rosenbrock", "quadratic(condition=4)"])
def test_on_a_loss_the_lift_is_the_gradient_flow_of_f_plus_gamma_half_grad_squared(spec):
    land = sim.landscape(spec)
    z = sample(land)
    opt = sim.optimizer("consensus", lr=0.01, gamma=0.3, weight_decay=0.1)
    F = lambda x: opt.potential(x, land)  # noqa: E731
    expected = land.value(z) + 0.05 * r2(z) + 0.15 * r2(land.grad(z) + 0.1 * z)
    np.testing.assert_allclose(F(z), expected, rtol=1e-14)
    grad_F = central_difference(F, z, 1e-6)
    np.testing.assert_allclose(opt.field(0.0, {"x": z}, land)["x"], -grad_F, rtol=1e-6, atol=1e-6 * np.abs(grad_F).max())
    model = sim.integrate(land, opt, None, steps=200)
    E, name = energy_along(model)
    assert name == "f + γ/2·|∇f|²" and np.all(np.diff(E) <= 1e-12 * (1 + np.abs(E[:-1])))
    assert opt.potential(z[:3], sim.landscape("bilinear")) is None  # ½|ξ|² need not decrease on a game


def test_one_step_is_one_euler_step_of_the_lift():
    for spec in ["dirac-gan", "vanilla-gan", "himmelblau"]:
        land = sim.landscape(spec)
        opt = sim.optimizer("consensus", lr=np.array([0.01, 0.1]), gamma=np.array([0.0, 2.0]), weight_decay=0.2)
        state = opt.init(land.default_start)
        np.testing.assert_allclose(euler_step(land, opt, state, 1)["x"], opt.step(state, land, 1)["x"], rtol=1e-15)


# -- hyperparameters, flows on offer, sweeps, the command line ------------------------------------------
def test_validation_names_gamma():
    with pytest.raises(ValueError, match=r"consensus: gamma must be >= 0 .*got -0.5"):
        sim.optimizer("consensus", gamma=-0.5)
    with pytest.raises(ValueError, match=r"consensus: gamma must be >= 0 .*got -1"):
        sim.optimizer("consensus", gamma=[0.5, -1.0])
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="consensus: gamma must be finite"):
            sim.optimizer("consensus", gamma=bad)
    with pytest.raises(ValueError, match="consensus: gamma must be a number"):
        sim.optimizer("consensus", gamma="0.5")
    with pytest.raises(ValueError, match="consensus: lr must be > 0"):
        sim.optimizer("consensus", lr=0.0)
    with pytest.raises(ValueError, match="consensus has no hyperparameter 'gama'"):
        sim.optimizer("consensus(gama=1)")
    assert sim.optimizer("consensus(lr=0.2, gamma=0.5)").spec == "consensus(lr=0.2, gamma=0.5)"


def test_flows_on_offer_and_the_refused_ones_say_why():
    opt = sim.optimizer("consensus", lr=0.1, gamma=0.5)
    assert available_flows(opt) == ["exact", "modified"]
    assert flow(opt).kind == "exact" and np.asarray(flow(opt).time_per_step) == 0.1
    with pytest.raises(ValueError, match="does not depend on lr: it already is its lr → 0 model; use the 'exact' flow"):
        flow(opt, "limit")
    with pytest.raises(ValueError, match="derived for the plain gradient"):
        flow(sim.optimizer("consensus", clip_norm=1.0), "modified")
    with pytest.raises(ValueError, match="RK45-compiled integrates plain gradient flows"):
        sim.integrate("himmelblau", opt, None, steps=5, method="RK45-compiled")


def test_gamma_is_a_sweep_axis_and_one_vectorized_run():
    assert "gamma" in sweepable(sim.optimizer("consensus"))
    gammas = np.linspace(0, 2, 5)
    s = sweep("bilinear", ["consensus(lr=0.1)"], ["gamma=0:2:5"], steps=200)
    # from (1, 0) the distance is ((1 − 0.1γ)² + 0.01)^(200/2)
    np.testing.assert_allclose(s.metrics["distance"][0], ((1 - 0.1 * gammas) ** 2 + 0.01) ** 100, rtol=1e-11)


def test_command_line_plots_gd_and_consensus_with_their_flows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plot", "-l", "bilinear", "-o", "gd", "-o", "consensus(lr=0.1,gamma=1)", "--flow",
                                      "exact", "--out", "fig.png"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "fig.png").stat().st_size > 10_000
    listed = CliRunner().invoke(app, ["list"])
    assert "  consensus " in listed.output
    refused = CliRunner().invoke(app, ["plot", "-l", "bilinear", "-o", "consensus(gamma=-1)", "--out", "no.png"])
    assert refused.exit_code != 0 and "gamma must be >= 0" in refused.output and not (tmp_path / "no.png").exists()
