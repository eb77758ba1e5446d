"""Games (issue 9): exact fields, the exact facts of descent–ascent on rotations, Su's GAN verdicts,
the game methods' modified equations, and the tools that refuse a game."""

from __future__ import annotations

import numpy as np
import pytest

import simulate as sim
from helpers import central_difference
from simulate.landscapes.games import GAMES, Game
from simulate.optimizers.gameplay import underlying_game

SPECS = ["bilinear", "bilinear(c=2)", "quadratic-game",
         "quadratic-game(A=[[1, 0], [0, 2]], B=[[1, 2, 0], [0, 1, 1]], C=0.5)",
         "dirac-gan", "dirac-gan(gamma=0.3)", "dirac-gan(loss='wgan', gamma=0.1)", "vanilla-gan", "wgan",
         "wgan-gp", "wgan-gp(c=1, lam=0.2)", "gan-qp", "gan-qp(l2=0.1)", "gan-qp(norm='theta', lam=0.5)"]
METHODS = ["gd", "alt-gda", "extragradient", "optimistic"]


def sample(game: Game, n: int = 40, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(game.bounds[:, 0], game.bounds[:, 1], size=(n, game.dim))


# -- the games themselves ------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS)
def test_jacobian_is_the_derivative_of_the_field(spec):
    game = sim.landscape(spec)
    z = sample(game)
    J, J_fd = game.hess(z), central_difference(game.grad, z, 1e-6)
    assert np.max(np.abs(J - J_fd) / (1e-6 * np.maximum(1, np.abs(J)))) <= 1
    for m in game.minima:  # listed equilibria are stationary points of the field
        assert np.abs(game.grad(m)).max() <= 1e-14


@pytest.mark.parametrize("spec", ["bilinear(c=0.7)", "quadratic-game(A=[[1, 0.5], [0.5, 2]], B=[[1, 2, 0], [0, 1, 1]], C=0.5)",
                                  "dirac-gan(gamma=0)", "dirac-gan(loss='wgan')"])
def test_zero_sum_field_is_descent_for_x_and_ascent_for_y(spec):
    """ξ = (∇ₓL, −∇ᵧL), from finite differences of the payoff L (the penalty-free games)."""
    game = sim.landscape(spec)
    z = sample(game)
    grad_L = central_difference(game.payoff, z, 1e-6)
    n = game.players[0]
    expected = np.concatenate([grad_L[..., :n], -grad_L[..., n:]], axis=-1)
    np.testing.assert_allclose(game.grad(z), expected, rtol=1e-7, atol=1e-8)


def test_su_gan_fields_are_the_players_gradients_of_their_losses():
    """Vanilla GAN: the discriminator descends −log(1 − σ(φ·θ)), the generator −log σ(φ·θ)."""
    game = sim.landscape("vanilla-gan")
    z = sample(game)

    def loss_d(w):
        return np.logaddexp(0.0, np.sum(w[..., :2] * w[..., 2:], axis=-1))

    def loss_g(w):
        return np.logaddexp(0.0, -np.sum(w[..., :2] * w[..., 2:], axis=-1))

    expected = np.concatenate([central_difference(loss_g, z, 1e-6)[..., :2], central_difference(loss_d, z, 1e-6)[..., 2:]], -1)
    np.testing.assert_allclose(game.grad(z), expected, rtol=1e-7, atol=1e-9)


def test_su_gan_fields_are_part_four_odes():
    """Theory §7's table, written out: φ̇ and θ̇ of WGAN, WGAN-GP and GAN-QP (both norms), with ξ = −(θ̇, φ̇)."""
    z = sample(sim.landscape("wgan"), 30)
    th, ph = z[:, :2], z[:, 2:]
    n, m = np.linalg.norm(ph, axis=-1)[:, None], np.linalg.norm(th, axis=-1)[:, None]
    s = np.sum(ph * th, axis=-1)[:, None]
    odes = {
        "wgan": (ph / n, -th / n + s * ph / n**3),
        "wgan-gp(lam=0.3)": (ph, -th - 0.6 * ph),
        "wgan-gp(lam=0.3, c=1)": (ph, -th - 0.6 * (1 - 1 / n) * ph),
        "gan-qp(lam=2)": (ph, -th - th * s / (2 * n)),
        "gan-qp(lam=2, l2=0.1, norm='theta')": (ph, -th - th * s / (2 * m) - 0.1 * ph),
    }
    for spec, (dtheta, dphi) in odes.items():
        np.testing.assert_allclose(-sim.landscape(spec).grad(z), np.concatenate([dtheta, dphi], axis=-1),
                                   rtol=1e-13, atol=1e-15, err_msg=spec)


def test_games_are_found_by_name_with_suggestions_and_round_trip_their_specs():
    for spec in SPECS:
        game = sim.landscape(spec)
        again = sim.landscape(game.label)
        z = sample(game, 5)
        np.testing.assert_array_equal(again.grad(z), game.grad(z))
    assert set(GAMES) <= set(sim.GAMES)
    with pytest.raises(ValueError, match="Did you mean 'bilinear'"):
        sim.landscape("bilinar")
    with pytest.raises(ValueError, match="loss must be one of gan, wgan"):
        sim.landscape("dirac-gan(loss='hinge')")
    with pytest.raises(ValueError, match="c must be non-zero"):
        sim.landscape("bilinear(c=0)")
    with pytest.raises(ValueError, match="A must be symmetric"):
        sim.landscape("quadratic-game(A=[[1, 2], [0, 1]], B=[[1, 0], [0, 1]])")
    with pytest.raises(ValueError, match=r"A must be 2×2 \(B is 2×3\)"):
        sim.landscape("quadratic-game(A=[[1, 0, 0]], B=[[1, 0, 0], [0, 1, 0]])")


# -- exact facts on the bilinear game -----------------------------------------------------------
LR = 0.3


def _bilinear_run(name, steps=40, lr=LR, c=1.0):
    return sim.iterate(sim.landscape("bilinear", c=c), sim.optimizer(name, lr=lr), [0.8, -0.6], steps).x


def test_flow_conserves_the_radius():
    flow = sim.integrate("bilinear", "gd", [0.8, -0.6], steps=200, method="DOP853", rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.sum(flow.x**2, axis=-1), 1.0, rtol=1e-9)


@pytest.mark.parametrize("c", [1.0, 2.5])
def test_simultaneous_gda_multiplies_the_squared_radius_by_one_plus_lr_squared(c):
    r2 = np.sum(_bilinear_run("gd", steps=15, c=c) ** 2, axis=-1)
    np.testing.assert_allclose(r2[1:] / r2[:-1], 1 + (c * LR) ** 2, rtol=1e-13)


def test_alternating_gda_conserves_its_modified_energy_exactly():
    z = _bilinear_run("alt-gda", steps=400)
    q = z[:, 0] ** 2 + z[:, 1] ** 2 - LR * z[:, 0] * z[:, 1]
    np.testing.assert_allclose(q, q[0], rtol=1e-12)
    r2 = np.sum(z**2, axis=-1)
    assert r2.max() < 1.5 * r2[0] and r2.min() > 0.6 * r2[0]  # bounded: neither out nor in
    assert not np.allclose(r2, r2[0], rtol=1e-3)  # and x² + y² itself is not what it keeps


def test_extragradient_contracts_by_one_minus_lr_squared_plus_lr_to_the_fourth():
    r2 = np.sum(_bilinear_run("extragradient") ** 2, axis=-1)
    np.testing.assert_allclose(r2[1:] / r2[:-1], 1 - LR**2 + LR**4, rtol=1e-13)


def test_optimistic_gd_contracts_at_the_principal_roots_modulus():
    """z_{k+1} = z_k − lr(2Mz_k − Mz_{k−1}) with M's eigenvalues ±i: ρ² − (1 − 2i·lr)ρ − i·lr = 0."""
    rho = np.max(np.abs(np.roots([1.0, -(1 - 2j * LR), -1j * LR])))
    r = np.linalg.norm(_bilinear_run("optimistic", steps=120), axis=-1)
    np.testing.assert_allclose(r[100:] / r[99:-1], rho, rtol=1e-6)
    assert rho < 1


def test_the_game_methods_run_vectorized_over_lr_and_report_divergence_as_data():
    lrs = np.array([0.1, 0.5, 1.9, 2.1])
    run = sim.iterate("bilinear", sim.optimizer("alt-gda", lr=lrs), [0.8, -0.6], 2000)
    assert run.diverged.tolist() == [False, False, False, True]  # alternating GDA is stable for lr < 2
    for i, lr in enumerate(lrs[:3]):
        np.testing.assert_array_equal(run.x[:, i], sim.iterate("bilinear", sim.optimizer("alt-gda", lr=lr),
                                                                [0.8, -0.6], 2000).x)


# -- continuous models --------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("spec", ["dirac-gan(gamma=0.2)", "quadratic-game(A=[[0.5, 0.1], [0.1, 0.2]], B=[[1, 0.3], [0.2, 1]], C=0.1)"])
def test_iterates_approach_the_flow_at_order_one_and_their_modified_equation_at_order_two(name, spec):
    """Each method's correction C in ż = −ξ + lr·C: wrong by any term of order lr, the slope stays 1."""
    opt = sim.optimizer(name, lr=0.1)
    assert sim.order(spec, opt, flow="exact", horizon=2.0, rungs=4).observed_order == pytest.approx(1.0, abs=0.08)
    assert sim.order(spec, opt, flow="modified", horizon=2.0, rungs=4).observed_order == pytest.approx(2.0, abs=0.1)


def test_modified_equations_predict_the_bilinear_growth_rates():
    """ż = −ξ ∓ lr/2·Jξ on L = xy: |z|² grows like e^{lr·t} (GDA), shrinks like e^{−lr·t} (EG, OGD)."""
    for name, sign in [("gd", 1), ("extragradient", -1), ("optimistic", -1), ("alt-gda", 0)]:
        m = sim.integrate("bilinear", sim.optimizer(name, lr=0.1), [1.0, 0.0], steps=100, flow="modified",
                          method="DOP853", rtol=1e-12, atol=1e-14)
        r2 = np.sum(m.x**2, axis=-1)
        if sign:
            np.testing.assert_allclose(r2[-1], np.exp(sign * 0.1 * m.t[-1]), rtol=1e-8)
        else:  # the Hamiltonian x² + y² − lr·xy of the modified field is conserved
            np.testing.assert_allclose(r2 - 0.1 * m.x[:, 0] * m.x[:, 1], 1.0, rtol=1e-9)


@pytest.mark.parametrize("spec, verdict", [
    ("vanilla-gan", "orbits"), ("wgan", "orbits"), ("wgan-gp", "converges"), ("gan-qp(l2=0.1)", "converges"),
    ("wgan-gp(c=1)", "ring"), ("gan-qp", "orbits")])
def test_su_gan_flows_reach_part_four_verdicts(spec, verdict):
    """Theory §7 (re-run of Su's code at rtol 1e-8): |θ| over the second half of the horizon."""
    game = sim.landscape(spec)
    horizon = {"vanilla-gan": 100, "wgan": 10, "gan-qp(l2=0.1)": 70}.get(spec, 40)
    t = np.linspace(0, horizon, 801)
    flow = sim.integrate(game, "gd", t=t, method="RK45", rtol=1e-8, atol=1e-10)
    assert flow.status == 0
    whole = game.distance(flow.x)
    r = whole[400:]
    if verdict == "converges":
        assert r[-1] < 0.01 and r[-1] < 0.05 * whole[0]
    elif verdict == "ring":
        assert 0.8 < r.min() and r.max() < 1.1 and abs(np.linalg.norm(flow.x[-1, 2:]) - 1) < 0.02
    else:  # keeps moving at a distance: neither converging nor escaping (ranges of theory §7's re-run)
        low, high = {"vanilla-gan": (0.10, 0.30), "wgan": (0.05, 0.41), "gan-qp": (0.15, 0.20)}[spec]
        assert low < r.min() and r.max() < high and r.max() - r.min() > 0.02


def test_gradient_penalty_damps_the_dirac_gan():
    """Eigenvalues of J at the equilibrium: ±i/2 without the penalty, real part γ/2 with it."""
    plain, damped = sim.landscape("dirac-gan"), sim.landscape("dirac-gan(gamma=0.3)")
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(plain.hess([0.0, 0.0]))), [-0.5j, 0.5j], atol=1e-15)
    np.testing.assert_allclose(np.linalg.eigvals(damped.hess([0.0, 0.0])).real, [0.15, 0.15])
    ends = [sim.integrate(g, "gd", [1.0, 1.0], t=np.linspace(0, 200, 5)).x[-1] for g in (plain, damped)]
    assert np.linalg.norm(ends[0]) > 0.5 and np.linalg.norm(ends[1]) < 1e-4


# -- tools that take a game, and those that refuse one -------------------------------------------
def test_plot_draws_each_method_and_the_distance_to_the_equilibrium():
    result = sim.plot("bilinear", ["gd(lr=0.2)", "extragradient(lr=0.2)"], steps=30)
    ax_path, ax_dist = result.figure.axes[:2]
    assert ax_dist.get_ylabel() == "distance to the equilibrium |z − z*|"
    run = sim.iterate("bilinear", "gd(lr=0.2)", None, 30)
    drawn = [line.get_ydata() for line in ax_dist.lines if len(line.get_ydata()) == 31]
    assert any(np.allclose(y, np.linalg.norm(run.x, axis=-1)) for y in drawn)
    assert "equilibria" in [t.get_text() for t in ax_path.get_legend().get_texts()]
    su = sim.plot("wgan-gp", ["gd(lr=0.1)"], steps=20).figure.axes[1]
    assert su.get_ylabel() == "generator's distance to the data |θ|"


def test_tools_built_for_losses_refuse_a_game_and_alt_gda_refuses_a_loss():
    with pytest.raises(ValueError, match="dirac-gan is a game"):
        sim.plot("dirac-gan", ["gd"], steps=5, sharpness=True)
    with pytest.raises(ValueError, match="bilinear is a game"):
        sim.ensemble("bilinear", ["gd"], steps=5, noise=0.1)
    for name in ("alt-gda", "extragradient", "heun", "nag-c", "proximal"):  # lr_scale would not be a per-coordinate lr
        with pytest.raises(ValueError, match="lr_scale is not available"):
            sim.optimizer(name, lr_scale=(1.0, 2.0))
    sim.optimizer("optimistic", lr_scale=(1.0, 2.0))  # its update is lr times a field: scaling it is exact
    with pytest.raises(ValueError, match="alt-gda needs a game"):
        sim.iterate("booth", "alt-gda", None, 3)
    assert sim.integrate("bilinear", "gd", steps=3).kind == "flow"
    assert underlying_game(sim.landscape("booth")) is None
