"""integrate's records: what is solved apart from how it is stepped (Stepping), the tolerances
(Tolerances), the saved times (SaveAt) and the events (Events); the keyword shorthands are the same
solve, bit for bit."""

import numpy as np
import pytest

import simulate as sim
from simulate.solvers.continuous import Events, SaveAt, Stepping, Tolerances
from simulate.solvers.trajectory import sample_times

Q = "quadratic(eigenvalues=(1.0, 3.0))"
X0 = np.array([[1.0, -0.5], [0.3, 0.8]])


def test_records_are_the_keyword_shorthands_bit_for_bit():
    t = np.linspace(0, 2, 21)
    short = sim.integrate("himmelblau", "momentum", X0, t, method="DOP853", rtol=1e-10, atol=1e-12,
                          escape_radius=50.0, max_evaluations=10**5)
    whole = sim.integrate("himmelblau", "momentum", X0, stepping=Stepping("DOP853", max_evaluations=10**5),
                          tolerances=Tolerances(rtol=1e-10, atol=1e-12), saveat=SaveAt(t), events=Events(50.0))
    np.testing.assert_array_equal(short.x, whole.x)
    np.testing.assert_array_equal(short.t, whole.t)
    assert {k: short.stats[k] for k in ("method", "rtol", "atol", "escape_radius", "max_evaluations")} == \
        {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12, "escape_radius": 50.0, "max_evaluations": 10**5}
    assert whole.stats["method"] == "DOP853" and whole.stats["escape_radius"] == 50.0


def test_saveat_per_step_samples_every_step_in_equal_parts():
    opt = sim.optimizer("momentum", lr=0.1)
    flow = sim.integrate(Q, opt, X0, steps=20, saveat=SaveAt(per_step=4), method="RK45")
    given = sim.integrate(Q, opt, X0, sample_times(opt, 20, (2,), per_step=4), method="RK45")
    np.testing.assert_array_equal(flow.x, given.x)
    assert flow.t.shape == (81,)
    np.testing.assert_array_equal(flow.t[::4], sim.iterate(Q, opt, X0, 20).t)  # every 4th sample is k·h exactly


def test_max_step_bounds_the_steps_and_the_answer_stays_the_flow():
    """On f = ½(x₁² + 3x₂²) the gradient flow is x(t) = (e^(−t)x₁, e^(−3t)x₂)."""
    t = np.array([0.0, 2.0])
    free = sim.integrate(Q, "gd", X0, t, method="RK45", rtol=1e-10, atol=1e-12)
    bounded = sim.integrate(Q, "gd", X0, t, stepping=Stepping("RK45", max_step=0.01), rtol=1e-10, atol=1e-12)
    assert np.all(bounded.stats["nfev"] >= 6 * 200) and np.all(free.stats["nfev"] < 6 * 200)
    exact = X0 * np.exp(-np.array([1.0, 3.0]) * 2.0)
    np.testing.assert_allclose(bounded.x[-1], exact, rtol=1e-8)
    np.testing.assert_allclose(free.x[-1], exact, rtol=1e-8)
    small_first = sim.integrate(Q, "gd", X0, t, stepping=Stepping("RK45", first_step=1e-9), rtol=1e-10, atol=1e-12)
    assert np.all(small_first.stats["nfev"] > free.stats["nfev"])  # the controller starts from the tiny step


def test_events_end_a_member_that_leaves_the_ball():
    flow = sim.integrate("saddle", "gd", [1.0, 1e-3], t=np.linspace(0, 30, 301), events=Events(escape_radius=5.0))
    assert flow.diverged_at > 0 and np.linalg.norm(flow.x[flow.diverged_at - 1]) < 5.0
    assert np.all(np.isnan(flow.x[flow.diverged_at:]))
    assert flow.message.startswith("diverged: |x| reached 5 at t = ")


@pytest.mark.parametrize("call, error, match", [
    (lambda: sim.integrate(Q, "gd", X0, steps=5, stepping=Stepping("RK45"), method="DOP853"), ValueError,
     "method: give it in stepping= or as keyword, not both"),
    (lambda: sim.integrate(Q, "gd", X0, [0.0, 1.0], saveat=SaveAt([0.0, 2.0])), ValueError,
     "t: give it in saveat="),
    (lambda: sim.integrate(Q, "gd", X0, steps=5, tolerances=(1e-8, 1e-10)), TypeError,
     "tolerances= takes a Tolerances, got tuple"),
    (lambda: Stepping("RK4"), ValueError, "unknown method 'RK4'"),
    (lambda: Stepping("RK45", max_step=0.0), ValueError, "max_step must be a positive number"),
    (lambda: Stepping("RK45-compiled", max_step=0.1), ValueError, "chooses its own steps"),
    (lambda: Tolerances(atol=-1.0), ValueError, "atol must be a positive number"),
    (lambda: SaveAt(per_step=0), ValueError, "per_step must be an integer >= 1"),
    (lambda: SaveAt([0.0, 1.0], per_step=2), ValueError, "not both"),
])
def test_records_refuse_what_they_cannot_do(call, error, match):
    with pytest.raises(error, match=match):
        call()
