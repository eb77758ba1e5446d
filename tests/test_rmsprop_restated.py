"""RMSprop restated (theory §10.9): its step is steepest descent in the metric P = diag(√v + ε)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import simulate as sim  # noqa: E402
from simulate.viz.metric import steepest_argmin, steepest_step_data, steepest_steps  # noqa: E402

ROSE = sim.landscape("rosenbrock")


@pytest.mark.parametrize("spec", ["rmsprop(lr=0.01)", "rmsprop(lr=0.01, centered=true, alpha=0.9)",
                                  "rmsprop(lr=0.003, weight_decay=0.1, eps=0.01)", "adam(lr=0.01)",
                                  "adam(lr=0.01, amsgrad=true, weight_decay=0.1)", "adamw(lr=0.01, weight_decay=0)",
                                  "gd(lr=0.001)", "gd(lr=0.001, weight_decay=0.1)"])
def test_each_step_is_the_solved_argmin_of_its_metric(spec):
    """argmin_d ⟨u, d⟩ + ‖d‖²_P/(2lr), solved by a trust-region Newton method, is the step taken to
    rounding (u = g for RMSprop, m̂ for Adam)."""
    d = steepest_step_data(ROSE, spec, [-1.2, 1.0], steps=60, samples=12)
    assert len(d["k"]) == 12 and d["k"][0] == 1 and d["k"][-1] == 60
    deviation = np.max(np.abs(d["taken"] - d["steepest"]) / np.max(np.abs(d["taken"]), axis=1, keepdims=True))
    assert deviation < 1e-11  # measured ≈ 1e-13
    np.testing.assert_array_equal(d["path"][d["k"]] - d["at"], d["taken"])


def test_the_metric_is_sqrt_v_plus_eps_after_the_update_and_its_argmin_is_not_the_euclidean_step():
    opt = sim.optimizer("rmsprop(lr=0.01, alpha=0.9, eps=0.01)")
    x0 = np.array([-1.2, 1.0])
    g = ROSE.grad(x0)
    state = opt.step(opt.init(x0), ROSE, 1)
    P, u = opt.steepest_metric(state, 1)
    np.testing.assert_allclose(P, np.sqrt(0.1 * g * g) + 0.01, rtol=1e-15)
    assert u is None  # the gradient at the step's start
    d = steepest_argmin(g, P, 0.01)
    np.testing.assert_allclose(d, -0.01 * g / P, rtol=1e-12)
    cos = d @ -g / np.linalg.norm(d) / np.linalg.norm(g)
    assert cos < 0.95  # 0.92: the metric turns the step away from −g (toward −sign(g))


def test_adam_is_steepest_descent_of_its_momentum():
    opt = sim.optimizer("adam(lr=0.01, betas=(0.8, 0.99))")
    state = opt.init(np.array([-1.2, 1.0]))
    for k in range(1, 4):
        state = opt.step(state, ROSE, k)
    P, u = opt.steepest_metric(state, 3)
    np.testing.assert_allclose(u, state["m"] / (1 - 0.8**3), rtol=1e-15)
    np.testing.assert_allclose(P, np.sqrt(state["v"] / (1 - 0.99**3)) + 1e-8, rtol=1e-15)


@pytest.mark.parametrize("spec", ["momentum", "rmsprop(momentum=0.5)", "adamw", "polyak", "adagrad"])
def test_no_metric_is_claimed_where_none_is_known(spec):
    opt = sim.optimizer(spec)
    state = opt.init(np.array([-1.2, 1.0]))
    assert opt.steepest_metric(state, 1) is None
    with pytest.raises(ValueError, match="knows no metric its step is steepest descent in"):
        steepest_step_data(ROSE, spec, [-1.2, 1.0], steps=3, samples=1)


def test_with_v_tracking_g_squared_the_step_is_linf_steepest_descent_up_to_eps():
    """α fixed, lr → 0: v → g² at the slowly moving x, so P⁻¹g → g/(|g| + ε) (the sign flow for ε → 0)."""
    errors = []
    for lr in (1e-5, 1e-6, 1e-7):
        opt = sim.optimizer("rmsprop", lr=lr, alpha=0.9, eps=0.1)
        state = opt.init(np.array([-1.2, 1.0]))
        for k in range(1, 301):  # 300 steps: v forgets its start (0.9³⁰⁰ ≈ 2e-14)
            x = state["x"]
            state = opt.step(state, ROSE, k)
        g = ROSE.grad(x)
        P, _ = opt.steepest_metric(state, 300)
        errors.append(np.max(np.abs(g / P - g / (np.abs(g) + 0.1))))
    assert errors[-1] < 1e-5 and errors[1] / errors[2] == pytest.approx(10, rel=0.02)  # O(lr): 7.7e-4, 7.6e-5, 7.5e-6


def test_the_figure_draws_the_three_steps_at_the_sampled_iterates():
    fig, ax = plt.subplots()
    out = steepest_steps(ROSE, "rmsprop(lr=0.01)", [-1.2, 1.0], steps=50, samples=5, ax=ax)
    assert out is ax
    d = steepest_step_data(ROSE, "rmsprop(lr=0.01)", [-1.2, 1.0], steps=50, samples=5)
    quivers = {q.get_gid(): q for q in ax.collections if q.get_gid()}
    assert set(quivers) == {"euclidean", "taken", "steepest"}
    magnify = float(ax.get_title().split("×")[1].rstrip(")"))
    for name in ("taken", "steepest"):
        np.testing.assert_array_equal(quivers[name].get_offsets(), d["at"])
        np.testing.assert_allclose(np.column_stack([quivers[name].U, quivers[name].V]), d[name] * magnify, rtol=1e-2)
    e = np.column_stack([quivers["euclidean"].U, quivers["euclidean"].V])  # −g's direction at the step's length
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), np.linalg.norm(d["taken"], axis=1) * magnify, rtol=1e-2)
    np.testing.assert_allclose(e[:, 0] * d["euclidean"][:, 1] - e[:, 1] * d["euclidean"][:, 0], 0, atol=1e-12)
    line = ax.lines[-1]
    np.testing.assert_array_equal(np.column_stack(line.get_data()), d["path"])
    plt.close(fig)


def test_the_view_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="draws the plane"):
        steepest_steps("quadratic(eigenvalues=(1,))", "rmsprop", [1.0], steps=3, samples=1)
    with pytest.raises(ValueError, match="bare optimizer"):
        steepest_step_data(ROSE, "rmsprop(clip_norm=1)", steps=3, samples=1)
    with pytest.raises(ValueError, match="samples must be between 1 and steps"):
        steepest_step_data(ROSE, "rmsprop", steps=3, samples=5)


def test_plot_steepest_steps_adds_the_panel_and_refuses_optimizers_without_a_metric(tmp_path, capsys):
    from simulate.cli.app import main

    out = tmp_path / "p.png"
    args = ["plot", "-l", "rosenbrock", "--start=-1.2,1", "--steps", "20", "--out", str(out), "--steepest-steps"]
    assert main([*args, "-o", "momentum(lr=0.001)", "-o", "rmsprop(lr=0.01)"]) == 0 and out.exists()
    assert "steepest_steps = true" in (tmp_path / "p.run.toml").read_text()
    assert main([*args, "-o", "momentum(lr=0.001)", "--overwrite"]) != 0
    assert "none of the optimizers (momentum(lr=0.001)) knows a metric" in capsys.readouterr().err


def test_the_panel_joins_the_plot_figure_as_a_column():
    from simulate.viz.metric import add_steepest_panel

    result = sim.plot("rosenbrock", ["momentum(lr=0.001)", "rmsprop(lr=0.01)"], [-1.2, 1.0], steps=20)
    before = len(result.figure.axes)
    width = result.figure.get_size_inches()[0]
    add_steepest_panel(result.figure, result.experiment)
    ax = result.figure.axes[-1]
    assert len(result.figure.axes) == before + 1 and result.figure.get_size_inches()[0] > width
    assert ax.get_subplotspec().colspan.start == ax.get_subplotspec().get_gridspec().get_geometry()[1] - 1
    assert ax.get_title().startswith("rmsprop(lr=0.01)")
