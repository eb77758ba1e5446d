"""The compiled Dormand–Prince integrator of gradient flows agrees with scipy to its tolerance,
keeps each member's step control its own, and reports divergence and budgets as data."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import simulate as sim

METHOD = "RK45-compiled"


def reference(L, start, times, wd=0.0):
    distinct, back = np.unique(times, return_inverse=True)  # scipy wants strictly increasing samples
    sol = solve_ivp(lambda t, y: -(L.grad(y) + wd * y), (0, times[-1]), start, method="DOP853", t_eval=distinct,
                    rtol=1e-13, atol=1e-15)
    return sol.y.T[back]


@pytest.mark.parametrize("land", ["rosenbrock", "himmelblau"])
@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_samples_agree_with_a_tight_scipy_solve_to_the_tolerance(land, rtol):
    L = sim.landscape(land)
    starts = np.random.default_rng(1).uniform(L.bounds[:, 0], L.bounds[:, 1], size=(6, 2))
    times = np.array([0.0, 0.01, 0.1, 0.1, 0.3, 0.5])  # short: the tight reference is slow on the valley
    run = sim.integrate(L, "gd(lr=0.1)", starts, t=times, method=METHOD, rtol=rtol, atol=rtol / 100)
    exact = np.stack([reference(L, s, times) for s in starts], axis=1)
    scale = 1 + np.max(np.abs(exact))
    assert np.max(np.abs(run.x - exact)) < 100 * rtol * scale
    np.testing.assert_array_equal(run.x[0], starts)  # t = 0 is the start itself
    assert np.all(run.status != 3) and not run.diverged.any()


def test_weight_decay_and_the_runge_kutta_optimizers_share_the_gradient_flow():
    L = sim.landscape("himmelblau")
    start = np.array([[0.5, -1.0], [-3.0, 2.0]])
    times = np.linspace(0, 1, 5)
    for spec in ("gd(lr=0.1, weight_decay=0.5)", "heun(lr=0.1, weight_decay=0.5)", "rk4(lr=0.1, weight_decay=0.5)"):
        run = sim.integrate(L, spec, start, t=times, method=METHOD, rtol=1e-10, atol=1e-12)
        exact = np.stack([reference(L, s, times, wd=0.5) for s in start], axis=1)
        assert np.max(np.abs(run.x - exact)) < 1e-7


def test_per_member_times_and_the_order_ladder_use_it():
    L = sim.landscape("rosenbrock")
    opt = sim.optimizer("gd", lr=np.array([1e-3, 2e-3]))
    run = sim.integrate(L, opt, [-1.0, 1.0], steps=50, method=METHOD, rtol=1e-10, atol=1e-12)
    for i, lr in enumerate([1e-3, 2e-3]):
        np.testing.assert_allclose(run.x[:, i], reference(L, np.array([-1.0, 1.0]), np.arange(51) * lr), atol=1e-8)
    r = sim.order("himmelblau", "gd(lr=0.01)", method=METHOD, rtol=1e-12, atol=1e-14, rungs=4)
    assert abs(r.observed_order - 1) < 0.05


def test_divergence_budget_and_unsupported_flows_are_reported():
    L = sim.landscape("himmelblau")
    run = sim.integrate(L, "gd", [[1e4, 0.0], [0.0, 0.0]], t=[0.0, 1.0], method=METHOD)
    assert run.diverged_at.tolist() == [0, -1] and "outside" in run.message[0]
    tight = sim.integrate(L, "gd", [[0.0, 0.0]], t=[0.0, 5.0], method=METHOD, rtol=1e-12, atol=1e-14,
                          max_evaluations=200)
    assert tight.status[0] == 3 and "more than 200" in tight.message[0]
    with pytest.raises(ValueError, match="plain gradient flows"):
        sim.integrate(L, "momentum", [0.0, 0.0], t=[0.0, 1.0], method=METHOD)
    with pytest.raises(ValueError, match="plain gradient flows"):
        sim.integrate("quadratic", "gd", [1.0, 1.0], t=[0.0, 1.0], method=METHOD)
