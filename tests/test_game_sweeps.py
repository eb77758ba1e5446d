"""Runs and sweeps on games: status by the distance to the equilibrium, verdicts per cell, axes
over a game's parameters (penalty strength), and the figure of verdicts."""

import numpy as np
import pytest

from simulate.solvers.discrete import iterate
from simulate.viz.figures import sweep_figure
from simulate.landscapes.games import NEAR_SHARE, stalled_far
from simulate.landscapes import landscape, landscape_parameters, with_parameters
from simulate.analysis.measures import VERDICT_TOLERANCE
from simulate.analysis.sweep import VERDICTS, AxisWarning, sweep
from simulate.solvers.trajectory import CONVERGED, RUNNING

CODE = {name: i for i, name in enumerate(VERDICTS)}


# -- a run's status on a game -------------------------------------------------------------------
def test_a_saturated_gan_stalls_and_is_not_called_converged():
    # Dirac-GAN with the GAN loss: xi = f'(theta*psi)(psi, -theta), f'(t) = sigmoid(-t) ~ e^-t. GD at
    # lr = 1 is thrown to theta*psi ~ 27, where |xi| ~ 1e-11 <= gtol, 7.6 away from the equilibrium.
    run = iterate("dirac-gan", "gd(lr=1)", steps=3000)
    assert np.linalg.norm(landscape("dirac-gan").grad(run.final)) <= run.gtol
    assert np.linalg.norm(run.final) > 5
    assert run.status == RUNNING
    assert run.message.startswith("stalled: |ξ| =") and "far from every listed equilibrium" in run.message
    damped = iterate("dirac-gan(gamma=1)", "gd(lr=0.1)", steps=3000)
    assert damped.status == CONVERGED and damped.message.startswith("converged: |ξ| =")
    assert np.linalg.norm(damped.final) < 1e-12
    assert iterate("quadratic", "gd(lr=0.1)", steps=500).message.startswith("converged: |grad f| =")


def test_stalled_far_uses_a_share_of_the_plot_box():
    game = landscape("dirac-gan")  # box [-2, 2]^2: near = 0.04
    near = NEAR_SHARE * 4.0
    points = np.array([[0.0, 0.0], [near * 0.99, 0.0], [0.0, near * 1.01], [6.2, 4.4]])
    assert stalled_far(game, points).tolist() == [False, False, True, True]
    assert not stalled_far(landscape("quadratic"), points).any()       # losses: |grad f| decides alone
    assert not stalled_far(landscape("wgan"), np.ones((2, 4))).any()   # no listed equilibrium


# -- sweep metrics on games ----------------------------------------------------------------------
def test_distance_on_su_gans_is_the_generators_and_steps_to_tol_uses_it():
    sw = sweep("gan-qp(l2=0.1)", "alt-gda", "lr=0.05,0.1", steps=300)
    for j, lr in enumerate((0.05, 0.1)):
        run = iterate("gan-qp(l2=0.1)", f"alt-gda(lr={lr})", steps=300)
        assert sw.metric("distance")[j] == np.linalg.norm(run.final[:2])  # |theta|, not |z|
    assert sw.criterion == "distance <= 1e-06"

    # Extragradient on L = xy from (1, 0): |z_k| = (1 - lr^2 + lr^4)^(k/2) exactly.
    lrs = np.array([0.3, 0.5, 0.7])
    sw = sweep("bilinear", "extragradient", {"lr": lrs}, steps=400, tol=1e-6)
    expected = np.ceil(np.log(1e-6) / (0.5 * np.log(1 - lrs**2 + lrs**4)))
    assert np.array_equal(sw.metric("steps_to_tol"), expected.astype(int))


def test_bilinear_verdicts_follow_the_closed_forms():
    # |z_k| is exact on L = xy: GDA (1 + lr^2)^(k/2), extragradient (1 - lr^2 + lr^4)^(k/2), both
    # monotone, so the envelopes over [K/4, K/2] and [3K/4, K] are |z_{K/4}|, |z_{3K/4}| (shrinking)
    # or |z_{K/2}|, |z_K| (growing). Alternating GDA keeps x^2 + y^2 - lr*xy: it cycles.
    K, tol = 400, 1e-6
    lrs = np.array([0.005, 0.02, 0.1, 0.5])
    sw = sweep("bilinear", ["gd", "alt-gda", "extragradient"], {"lr": lrs}, steps=K, tol=tol)

    def verdict(factor):
        norm = lambda k: factor ** (k / 2)  # noqa: E731
        if norm(K) <= tol:
            return CODE["converged"]
        first, last = max(norm(K // 4), norm(K // 2)), max(norm(3 * K // 4), norm(K))
        if last < first / (1 + VERDICT_TOLERANCE):
            return CODE["converging"]
        return CODE["spiralling out"] if last > first * (1 + VERDICT_TOLERANCE) else CODE["cycling"]

    gda = [CODE["diverged"] if (1 + lr**2) ** (K / 2) > sw.stats["escape_radius"] else verdict(1 + lr**2) for lr in lrs]
    assert sw.metric("verdict", "gd").tolist() == gda
    assert sw.metric("verdict", "alt-gda").tolist() == [CODE["cycling"]] * 4
    assert sw.metric("verdict", "extragradient").tolist() == [verdict(1 - lr**2 + lr**4) for lr in lrs]
    # the closed forms give every class but stalled here: the test sees each branch
    assert {CODE["cycling"], CODE["spiralling out"], CODE["diverged"]} <= set(gda)
    assert {CODE["converging"], CODE["converged"]} <= set(sw.metric("verdict", "extragradient").tolist())


def test_stalled_verdict_and_what_is_not_measured():
    sw = sweep("dirac-gan", "gd", "lr=1", steps=3000, flow="exact")
    assert sw.metric("verdict", 0).tolist() == [CODE["stalled"]]
    assert sw.metric("distance", 0)[0] > 5
    assert sw.metric("verdict", 1).tolist() == [-1]  # the flow's endpoint: only endpoint metrics
    assert "1 stalled" in sw.summary()
    # a crawl: GD with lr = 1e-4 on Rosenbrock moves far less than 5% of its distance in 100 steps
    crawl = sweep("rosenbrock", "gd", "lr=1e-4", steps=100, record_every=50)
    moved = np.abs(crawl.paths[0, -1] - crawl.paths[0, -2]).max()
    assert 0 < moved < 0.05 * crawl.metric("distance")[0] and crawl.metric("verdict").tolist() == [CODE["stalled"]]
    assert sweep("bilinear", "gd", "lr=0.1,0.5", steps=3).metric("verdict").tolist() == [-1, -1]  # windows empty
    assert sweep("bilinear", "gd", "lr=0.1,0.5", steps=0).metric("verdict").tolist() == [-1, -1]
    noisy = sweep("quadratic", "gd", ["lr=0.05", "path=1:4:4"], steps=200, noise="gaussian(scale=0.1)")
    assert (noisy.metric("verdict") == -1).all()  # noise at its floor moves the envelopes either way


def test_on_a_loss_any_listed_minimum_counts_as_converged():
    # Styblinski-Tang lists four minima, one global: a run that reaches a local one has converged
    sw = sweep("styblinski-tang", "gd(lr=0.01)", ["x=-4:4:5", "y=-4:4:5"], steps=2000)
    assert set(np.unique(sw.metric("minimum"))) == {0, 1, 2, 3}
    assert (sw.metric("verdict") == CODE["converged"]).all() and (sw.metric("distance") <= 1e-6).all()


# -- axes over a game's parameters ------------------------------------------------------------------
def test_landscape_parameters_and_rebuilding():
    assert landscape_parameters(landscape("dirac-gan")) == {"gamma": 0.0}
    assert landscape_parameters(landscape("wgan-gp")) == {"lam": 0.1, "c": 0.0}
    assert landscape_parameters(landscape("bilinear")) == {"c": 1.0}          # A, B, C are pinned
    assert landscape_parameters(landscape("vanilla-gan")) == {}
    assert "dim" not in landscape_parameters(landscape("rosenbrock"))         # a size, not a strength
    # (a bare word where text is expected reads as text: loss=wgan)
    assert with_parameters(landscape("dirac-gan(loss=wgan)"), gamma=0.5).label == "dirac-gan(loss='wgan', gamma=0.5)"
    with pytest.raises(ValueError, match="dirac-gan with gamma=-1: .*gamma"):
        with_parameters(landscape("dirac-gan"), gamma=-1.0)


def test_a_penalty_axis_equals_separate_sweeps_bit_for_bit():
    axes = ["lr=0.05:0.5:4:log", "gamma=0,0.3,1"]
    sw = sweep("dirac-gan", ["gd", "extragradient"], axes, steps=300, record_every=100)
    assert sw.grid_shape == (4, 3) and sw.stats["landscape_axes"] == ("gamma",)
    assert np.isnan(sw.reference_sharpness)
    for j, gamma in enumerate((0.0, 0.3, 1.0)):
        one = sweep(f"dirac-gan(gamma={gamma})", ["gd", "extragradient"], axes[0], steps=300, record_every=100)
        for name, values in one.metrics.items():
            assert np.array_equal(sw.metrics[name][:, :, j], values, equal_nan=True), name
        assert np.array_equal(sw.paths[:, :, :, j], one.paths, equal_nan=True)
    # the R1 penalty damps the rotation: every gd cell with gamma = 1 ends nearer than with gamma = 0
    d = sw.metric("distance", "gd")
    assert np.all(d[:, 2] < d[:, 0])
    # an explicit landscape. prefix says the same
    prefixed = sweep("dirac-gan", ["gd", "extragradient"], [axes[0], "landscape.gamma=0,0.3,1"], steps=300)
    assert np.array_equal(prefixed.metrics["distance"], sw.metrics["distance"])


def test_su_penalties_over_an_axis():
    # theory 7: GAN-QP converges with L2 on phi, WGAN-GP with c = 0 (zero-centred), not c = 1 (a ring)
    qp = sweep("gan-qp", "alt-gda(lr=0.1)", "l2=0,0.1", steps=700)
    assert qp.metric("distance")[1] < 0.01 < qp.metric("distance")[0]
    gp = sweep("wgan-gp", "alt-gda(lr=0.1)", "c=0,1", steps=400)
    assert gp.metric("distance")[0] < 0.01 and 0.9 < gp.metric("distance")[1] < 1.05
    assert gp.metric("verdict")[0] == CODE["converging"]


def test_landscape_axis_errors():
    with pytest.raises(ValueError, match=r"dirac-gan\(gamma=0.5\) sets gamma and the axis gamma sweeps it"):
        sweep("dirac-gan(gamma=0.5)", "gd", "gamma=0,0.5", steps=10)  # the axis would silently win
    with pytest.warns(AxisWarning, match="sweeps the optimizer's gamma; dirac-gan's parameter of that name is the "
                                         "axis landscape.gamma"):
        sw = sweep("dirac-gan", "consensus(lr=0.1)", "gamma=0,1", steps=10)
    assert sw.optimizers[0].gamma.tolist() == [0.0, 1.0] and sw.landscape.gamma == 0
    with pytest.raises(ValueError, match="dirac-gan has no parameter 'gama'. Did you mean 'gamma'"):
        landscape("dirac-gan(gama=0.3)")
    with pytest.raises(ValueError, match="parameter of dirac-gan.*gamma"):
        sweep("dirac-gan", "gd", "landscape.gama=0,1", steps=10)
    with pytest.raises(ValueError, match="vanilla-gan has no parameter"):
        sweep("vanilla-gan", "gd", "landscape.lam=0,1", steps=10)
    with pytest.raises(ValueError, match="no coordinate or parameter.*Sweepable:.*gamma"):
        sweep("dirac-gan", "gd", "gamm=0,1", steps=10)
    with pytest.raises(ValueError, match="gamma"):  # the constructor's own check, naming the value
        sweep("dirac-gan", "gd", "gamma=-1,1", steps=10)
    with pytest.raises(ValueError, match=r"gd has no hyperparameter 'gamma' \(consensus has: a plain gamma is an "
                                         r"optimizer's\); for dirac-gan's parameter gamma write the axis as "
                                         r"landscape.gamma"):
        sweep("dirac-gan", ["gd", "consensus"], "gamma=0,1", steps=10)  # consensus's gamma is the plain name's
    # quadratic's label rebuilds it from its eigenvalues: condition is no axis (it would be overridden)
    assert "condition" not in landscape_parameters(landscape("quadratic(condition=100)"))
    with pytest.raises(ValueError, match="no coordinate or parameter"):
        sweep("quadratic", "gd", ["lr=0.1", "condition=1:100:3:log"], steps=5)
    with pytest.raises(ValueError, match="parameters came out as"):
        with_parameters(landscape("quadratic"), condition=100.0)


# -- the figure -------------------------------------------------------------------------------
def test_game_sweep_figure_draws_the_verdicts():
    sw = sweep("bilinear", ["gd", "alt-gda"], "lr=0.01:1.5:6:log", steps=300)
    fig = sweep_figure(sw)  # default metric on a game: verdict, a row of cells per member
    ax = fig.axes[0]
    mesh = ax.collections[0]
    assert np.array_equal(np.asarray(mesh.get_array()).reshape(2, 6), sw.metrics["verdict"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gd", "alt-gda"]
    shown = {t.get_text() for t in ax.get_legend().get_texts()}
    assert shown == {VERDICTS[c] for c in np.unique(sw.metrics["verdict"])}

    grid = sweep("dirac-gan", "gd", ["lr=0.05,0.2", "gamma=0,1"], steps=200)
    ax = sweep_figure(grid).axes[0]
    assert np.array_equal(np.asarray(ax.collections[0].get_array()).reshape(2, 2), grid.metric("verdict").T)
    # under two decades of lr the ticks are grid values (matplotlib's minor labels ran together)
    narrow = sweep("bilinear", "gd", "lr=0.02:0.5:8:log", steps=20)
    ax = sweep_figure(narrow).axes[0]
    values = narrow.axes[0].values
    assert np.allclose(ax.get_xticks(), values[[0, 1, 3, 4, 6, 7]])
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{v:.3g}" for v in values[[0, 1, 3, 4, 6, 7]]]
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))


def test_a_log_metric_whose_every_cell_diverged_is_drawn_with_a_note():
    sw = sweep("bilinear", ["gd", "alt-gda"], "lr=1.5:3:4:log", steps=2000)
    assert sw.metric("diverged", "gd").all() and not sw.metric("diverged", "alt-gda").all()
    ax = sweep_figure(sw, "distance").axes[0]  # log-scaled: crashed with "Data cannot be log-scaled"
    assert "gd: every cell diverged" in [t.get_text() for t in ax.texts]
    alone = sweep("bilinear", "gd", "lr=1.5:3:4:log", steps=2000)
    ax = sweep_figure(alone, "distance").axes[0]
    assert ax.get_yscale() == "linear" and ax.texts[0].get_text() == "gd: every cell diverged"
    # a singular coupling: its equilibria are a line (ker M), none is listed, so no cell has a rate
    singular = sweep("quadratic-game(A=0, B=(1, 0), C=0)", ["gd", "alt-gda"], ["lr=0.01,0.1", "x1=0.1,0.2"], steps=50)
    assert np.isnan(singular.metrics["rate"]).all() and singular.criterion == "|ξ| <= 1e-06"
    fig = sweep_figure(singular, "rate")
    assert "no cell has a rate" in " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_alternating_is_simultaneous_on_su_wgan():
    # Su's WGAN: theta moves along phi/|phi|, and phi's field -(I - phi phi^T/|phi|^2) theta/|phi| sees
    # only theta's part orthogonal to phi, which that move leaves alone: x moving first changes nothing.
    sim, alt = iterate("wgan", "gd(lr=0.1)", steps=200), iterate("wgan", "alt-gda(lr=0.1)", steps=200)
    assert np.allclose(sim.x, alt.x, rtol=0, atol=1e-12)
    vanilla = iterate("vanilla-gan", "gd(lr=0.1)", steps=50), iterate("vanilla-gan", "alt-gda(lr=0.1)", steps=50)
    assert np.max(np.abs(vanilla[0].x - vanilla[1].x)) > 1e-3  # not so on the vanilla GAN


def test_the_distance_panel_of_a_game_without_a_listed_equilibrium_shows_the_field():
    from simulate.viz.plotting import plot_distance

    game = landscape("quadratic-game(A=0, B=(1, 0), C=0)")  # M singular: equilibria on a line, none listed
    run = iterate(game, "extragradient(lr=0.1)", steps=50)
    ax = plot_distance(run)
    assert "no equilibrium is listed" in ax.get_ylabel()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), np.linalg.norm(game.grad(run.x), axis=-1))
    ax = plot_distance(iterate("bilinear", "gd(lr=0.1)", steps=5))
    assert ax.get_ylabel().startswith("distance to the equilibrium")


def test_game_figures_name_the_players_coordinates():
    from simulate.viz.figures import plot

    for spec, labels in (("bilinear", ("x (minimizes)", "y (maximizes)")),
                         ("dirac-gan", ("θ (generator)", "ψ (discriminator)")),
                         ("vanilla-gan", ("θ₁ (generator)", "θ₂ (generator)")),  # 4-D: the generator's plane
                         ("quadratic", ("x₁", "x₂"))):
        ax = plot(spec, ["gd(lr=0.1)"], steps=5).figure.axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == labels, spec
