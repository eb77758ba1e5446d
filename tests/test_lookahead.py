"""Lookahead (simulate.optimizers.lookahead) around any optimizer: against a hand-written loop (no
torch class exists), its leading-order modified flow's rate on 1-D quadratics, and the damping of
simultaneous GDA's rotation on the bilinear game."""

import numpy as np
import pytest

import simulate as sim
from simulate.models import available_flows, flow
from simulate.optimizers import Lookahead, lookahead

ROSEN, X0 = sim.landscape("rosenbrock"), np.array([-1.2, 1.0])


def reference(inner, land, x0, steps, k, alpha):
    """Zhang et al.'s Algorithm 1 written out: the inner optimizer's state kept across cycles."""
    state = inner.init(x0)
    slow = state["x"].copy()
    xs = []
    for step in range(1, steps + 1):
        state = inner.step(state, land, step)
        if step % k == 0:
            slow = slow + alpha * (state["x"] - slow)
            state = {**state, "x": slow.copy()}
        xs.append(state["x"])
    return np.array(xs)


@pytest.mark.parametrize("spec, k, alpha", [("gd(lr=0.001)", 5, 0.5), ("momentum(lr=0.0005)", 3, 0.8),
                                            ("adam(lr=0.01, weight_decay=0.1)", 7, 0.3),
                                            ("schedule-free-adamw(lr=0.01)", 4, 1.0), ("rk4(lr=0.001)", 1, 0.6)])
def test_agrees_with_a_hand_written_loop(spec, k, alpha):
    inner = sim.optimizer(spec)
    opt = lookahead(inner, k=k, alpha=alpha)
    ours = sim.iterate(ROSEN, opt, X0, 53).x[1:]
    np.testing.assert_array_equal(ours, reference(inner, ROSEN, X0, 53, k, alpha))
    assert opt.state_names()[-2:] == ("slow", "x")


def test_python_and_spec_forms_compose_like_a_schedule():
    opt = sim.optimizer("adam(lr=0.01, lookahead=(5, 0.5))")
    assert isinstance(opt, Lookahead) and opt.spec == "adam(lr=0.01, lookahead=(5, 0.5))"
    assert opt == lookahead(sim.optimizer("adam(lr=0.01)"), k=5, alpha=0.5) == lookahead(sim.optimizer("adam", lr=0.01), 5)
    assert sim.optimizer(opt.spec) == opt and float(opt.lr) == 0.01 and float(opt.time_per_step) == 0.005
    wrapped = sim.optimizer("gd(lr=0.1, lookahead=3, schedule='cosine', clip_norm=1)")
    assert isinstance(wrapped.inner, Lookahead) and sim.optimizer(wrapped.spec) == wrapped  # the schedule outside
    assert lookahead(sim.optimizer("gd(lr=0.1, clip_norm=1)"), 3) == sim.optimizer("gd(lr=0.1, clip_norm=1, lookahead=3)")
    assert opt.replace(lr=0.02, k=3).spec == "adam(lr=0.02, lookahead=(3, 0.5))"
    assert opt.replace(lookahead=None) == sim.optimizer("adam(lr=0.01)")
    assert lookahead(opt, 2, 0.9).spec == "adam(lr=0.01, lookahead=(2, 0.9))"  # settings replaced, not nested
    # a scheduled run is the Lookahead step at each scheduled lr on the clipped gradient
    run = sim.iterate(ROSEN, wrapped, X0, 9)
    la = wrapped.inner
    state, seen = la.init(X0), wrapped.seen(ROSEN)
    for step, lr in enumerate(wrapped.lrs(9), start=1):
        state = la.at_lr(lr).step(state, seen, step)
        np.testing.assert_array_equal(run.x[step], state["x"])


def test_refusals_say_why():
    with pytest.raises(ValueError, match="k must be a whole number"):
        sim.optimizer("gd(lookahead=2.5)")
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        lookahead(sim.optimizer("gd"), 5, 0.0)
    with pytest.raises(ValueError, match="put it around an optimizer"):
        lookahead("gd", 5)
    with pytest.raises(ValueError, match="lr_scale is not available"):
        sim.optimizer("gd(lookahead=5, lr_scale=(1, 2))")
    with pytest.raises(ValueError, match="no exact lift"):
        flow(sim.optimizer("gd(lookahead=5)"), "exact")
    with pytest.raises(ValueError, match="derived for gd inner steps"):
        flow(sim.optimizer("adam(lookahead=5)"), "modified")
    assert available_flows(sim.optimizer("gd(lookahead=5)")) == ["limit", "modified"]
    assert available_flows(sim.optimizer("adam(lookahead=5)")) == ["limit"]


@pytest.mark.parametrize("K, alpha", [(5, 0.5), (10, 0.8), (1, 0.5), (4, 1.0)])
def test_modified_flow_rate_on_a_quadratic_matches_to_second_order(K, alpha):
    """On f = λx²/2 a cycle multiplies φ by 1 − α + α(1 − ηλ)^K, i.e. a rate −log(·)/(αKη) per unit
    time; the modified flow's is λ + 2cηλ², c = (1 − K(1 − α))/4. They differ by O(η²)."""
    lam = 1.0
    gaps = []
    for eta in (1e-2, 1e-3):
        factor = 1 - alpha + alpha * (1 - eta * lam) ** K
        rate = -np.log(factor) / (alpha * K * eta)
        model = flow(lookahead(sim.optimizer("gd", lr=eta), K, alpha), "modified")
        predicted = lam + 2 * float(model.coefficient()) * eta * lam**2
        gaps.append(abs(rate - predicted))
    assert gaps[1] < gaps[0] / 80  # second order: ×100 smaller for ×10 smaller η (9e-5 → 9e-7 at K=5, α=0.5)
    # and the iterates at the cycle ends are that factor's powers
    land = sim.landscape("quadratic(eigenvalues=(1,))")
    run = sim.iterate(land, lookahead(sim.optimizer("gd", lr=0.01), K, alpha), np.array([1.0]), 4 * K)
    factor = 1 - alpha + alpha * (1 - 0.01) ** K
    np.testing.assert_allclose(run.x[K::K, 0], factor ** np.arange(1, 5), rtol=1e-13)
    np.testing.assert_allclose(run.t[K::K], alpha * 0.01 * K * np.arange(1, 5), rtol=1e-13)  # the clock α·η


def test_modified_flow_follows_the_cycle_ends_at_order_two():
    """On a 2-D quadratic the slow weights at cycle ends stay O(η²) from the modified flow, O(η)
    from the gradient flow (the limit)."""
    land = sim.landscape("quadratic(eigenvalues=(1, 4))")
    x0 = np.array([1.0, 1.0])
    errors = {"modified": [], "limit": []}
    for eta in (0.02, 0.01):
        opt = lookahead(sim.optimizer("gd", lr=eta), 5, 0.5)
        steps = int(round(1.0 / (0.5 * eta)))
        run = sim.iterate(land, opt, x0, steps)
        ends = run.t[5::5]
        for kind in errors:
            model = sim.integrate(land, opt, x0, t=np.concatenate([[0.0], ends]), flow=kind, method="DOP853",
                                  rtol=1e-12, atol=1e-14)
            errors[kind].append(np.max(np.abs(model.x[1:] - run.x[5::5])))
    assert np.log2(errors["modified"][0] / errors["modified"][1]) == pytest.approx(2.0, abs=0.15)
    assert np.log2(errors["limit"][0] / errors["limit"][1]) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("eta, K, alpha", [(0.1, 5, 0.5), (0.2, 3, 0.5), (0.05, 10, 0.5)])
def test_lookahead_damps_simultaneous_gda_on_the_bilinear_game(eta, K, alpha):
    """GDA on L = xy is z ← Az, A = [[1, −η], [η, 1]]: a rotation by θ = atan η dilated by ρ = √(1 + η²);
    as a complex number, K steps multiply by ρᴷe^{iKθ}. A cycle averages that with the identity:
    x² + y² is multiplied by |1 − α + αρᴷe^{iKθ}|² = (1 − α)² + 2α(1 − α)ρᴷcos Kθ + α²ρ²ᴷ < 1,
    where GDA alone multiplies it by ρ²ᴷ > 1."""
    game = sim.landscape("bilinear")
    z0 = np.array([1.0, 0.5])
    cycles = 6
    run = sim.iterate(game, lookahead(sim.optimizer("gd", lr=eta), K, alpha), z0, cycles * K)
    r2 = np.sum(run.x[::K] ** 2, axis=-1)
    rho, theta = np.sqrt(1 + eta**2), np.arctan(eta)
    predicted = (1 - alpha) ** 2 + 2 * alpha * (1 - alpha) * rho**K * np.cos(K * theta) + alpha**2 * rho ** (2 * K)
    np.testing.assert_allclose(r2[1:] / r2[:-1], predicted, rtol=1e-12)
    assert predicted < 1 < rho ** (2 * K)
    plain = sim.iterate(game, sim.optimizer("gd", lr=eta), z0, cycles * K)
    np.testing.assert_allclose(np.sum(plain.x[K] ** 2) / np.sum(z0**2), rho ** (2 * K), rtol=1e-12)


def test_the_loss_legend_tells_lookahead_from_its_inner_optimizer():
    from simulate.viz.figures import comparison_figure

    exp = sim.plot("himmelblau", ["gd(lr=0.01, lookahead=(5, 0.5))", "gd(lr=0.01)"], steps=20).experiment
    labels = [t.get_text() for t in comparison_figure(exp).axes[1].get_legend().get_texts()]
    assert labels[0].startswith("gd + lookahead (") and labels[1].startswith("gd (")
