"""Schedule-Free SGD and AdamW (simulate.optimizers.schedule_free) against the schedulefree package
step for step, their exact lift's Euler identity, and their lr → 0 limit against its closed form
on quadratics (Kummer's ₁F₁) and the iterates' observed order."""

import numpy as np
import pytest
import schedulefree
import torch
from scipy.special import hyp1f1

import simulate as sim
from simulate.analysis.order import order
from simulate.models import available_flows, flow
from simulate.solvers.continuous import euler_step

ROSEN, X0 = sim.landscape("rosenbrock"), np.array([-1.2, 1.0])
Q = sim.landscape("quadratic(eigenvalues=(2.0, 0.5))")
PACKAGE = {"schedule-free-sgd": schedulefree.SGDScheduleFree, "schedule-free-adamw": schedulefree.AdamWScheduleFree}

CASES = [
    ("schedule-free-sgd", dict(lr=1e-3)),
    ("schedule-free-sgd", dict(lr=2e-3, momentum=0.5, weight_decay=0.1)),
    ("schedule-free-sgd", dict(lr=1e-3, warmup_steps=10, weight_lr_power=3.0)),
    ("schedule-free-sgd", dict(lr=2e-3, momentum=0.7, weight_decay=0.05, warmup_steps=7, r=1.5, weight_lr_power=0.0)),
    ("schedule-free-adamw", dict(lr=1e-2)),
    ("schedule-free-adamw", dict(lr=1e-2, betas=(0.5, 0.99), weight_decay=0.3, eps=1e-6)),
    ("schedule-free-adamw", dict(lr=2e-2, warmup_steps=20, r=0.5, weight_lr_power=1.0)),
    ("schedule-free-adamw", dict(lr=5e-3, betas=(0.95, 0.9), weight_decay=0.1, warmup_steps=5, r=2.0)),
]


def case_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


def package_run(name, kw, land, x0, steps, foreach):
    """The package in train mode fed our float64 gradient at its parameter (y); then eval()'s x."""
    torch.set_default_dtype(torch.float64)  # its scalar state would otherwise be float32
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = PACKAGE[name]([p], foreach=foreach, **kw)
    opt.train()
    ys = []
    for _ in range(steps):
        p.grad = torch.tensor(land.grad(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        ys.append(p.detach().numpy().copy())
    opt.eval()
    return np.array(ys), p.detach().numpy().copy()


def our_run(name, kw, land, x0, steps):
    opt = sim.optimizer(name, **kw)
    state, states = opt.init(x0), []
    for k in range(1, steps + 1):
        state = opt.step(state, land, k)
        states.append(state)
    return opt, states


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_agrees_with_the_schedulefree_package_step_for_step(case, foreach):
    """y is the package's train-mode parameter and x its eval() point, to the last bits (measured:
    0 for the defaults, ≤ 4.5e-16 with weight decay, warmup and r: torch fuses some multiply-adds)."""
    name, kw = case
    for land, x0 in ((ROSEN, X0), (Q, np.array([1.0, -2.0]))):
        _, states = our_run(name, kw, land, x0, 150)
        ys, x_eval = package_run(name, kw, land, x0, 150, foreach)
        ours = np.array([s["y"] for s in states])
        assert np.max(np.abs(ours - ys)) <= 2e-15 * np.max(np.abs(ys)), np.max(np.abs(ours - ys))
        assert np.max(np.abs(states[-1]["x"] - x_eval)) <= 2e-15 * np.max(np.abs(x_eval))


def test_the_iterate_is_x_the_average_and_y_z_are_state():
    run = sim.iterate(Q, "schedule-free-sgd(lr=0.1)", np.array([1.0, 1.0]), 20)
    opt = sim.optimizer("schedule-free-sgd(lr=0.1)")
    _, states = our_run("schedule-free-sgd", dict(lr=0.1), Q, np.array([1.0, 1.0]), 20)
    np.testing.assert_array_equal(run.x[1:], [s["x"] for s in states])
    assert opt.state_names() == ("z", "y", "x") and opt.lift_state_names() == ("z", "x")
    # constant lr, r = 0: x is the running mean of z (c_k = 1/k), and y = (1 − β)z + βx
    zs = np.array([s["z"] for s in states])
    np.testing.assert_allclose(run.x[1:], np.cumsum(zs, axis=0) / np.arange(1, 21)[:, None], rtol=1e-13)
    np.testing.assert_allclose(states[-1]["y"], 0.1 * states[-1]["z"] + 0.9 * states[-1]["x"], rtol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_one_step_is_one_semi_implicit_euler_step_of_the_lift(case):
    """From each discrete state, one Euler step of the lift on (v), z, x (order v, z, x; y formed
    from z and x) is the next discrete state, to rounding."""
    name, kw = case
    opt, states = our_run(name, kw, ROSEN, X0, 120)
    worst = 0.0
    for k in range(2, 121):
        lift = {n: states[k - 2][n] for n in opt.lift_state_names()}
        stepped = euler_step(ROSEN, opt, lift, k)
        assert list(stepped) == list(opt.lift_state_names())
        for n in stepped:
            scale = np.max(np.abs(states[k - 1][n]))
            worst = max(worst, np.max(np.abs(stepped[n] - states[k - 1][n])) / scale)
    assert worst < 1e-13, worst
    # and from the start: flow_init is the lift's initial state
    lift = opt.flow_init(X0, ROSEN)
    np.testing.assert_allclose(euler_step(ROSEN, opt, lift, 1)["x"], states[0]["x"], rtol=1e-14)


def test_the_averaging_weights_are_the_packages_and_continuous_between_steps():
    opt = sim.optimizer("schedule-free-sgd", lr=0.5, warmup_steps=4, r=1.0)
    gamma, c = opt.schedule_at(3)
    assert float(gamma) == 0.5 * (3 / 4) and float(c) == 3 * 0.375**2 / (0.125**2 + 2 * 0.25**2 + 3 * 0.375**2)
    for k in (2, 4, 5, 9):  # the continuous extension meets the table at whole κ
        np.testing.assert_allclose(opt.schedule_along(float(k)), opt.schedule_at(k), rtol=1e-15)
        for side in (-1e-9, 1e-9):  # and is continuous there
            np.testing.assert_allclose(opt.schedule_along(k + side), opt.schedule_at(k), rtol=1e-7)
    plain = sim.optimizer("schedule-free-adamw")  # constant lr, r = 0: c(κ) = 1/κ, ẋ = (z − x)/(t + h)
    np.testing.assert_allclose(plain.schedule_along(np.array([1.0, 2.5, 7.25]))[1], 1 / np.array([1.0, 2.5, 7.25]),
                               rtol=1e-14)


# -- the limit --------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.5, 0.8, 0.3])
def test_limit_on_a_quadratic_is_kummers_function(beta):
    """t·ẍ + 2ẋ + a(x + (1 − β)tẋ) = 0 is Kummer's equation in s = −a(1 − β)t: x = x₀·₁F₁(1/(1 − β); 2; s).
    β = 0.5, 0.8 give integer 1/(1 − β) (e^(−s) times a polynomial); β = 0.3 a power-law tail."""
    opt = sim.optimizer("schedule-free-sgd", lr=0.01, momentum=beta)
    x0 = np.array([1.0, -2.0])
    t = np.linspace(0, 4, 41)
    run = sim.integrate(Q, opt, x0, t=t, flow="limit", method="DOP853", rtol=1e-12, atol=1e-14)
    exact = x0 * np.stack([hyp1f1(1 / (1 - beta), 2, -a * (1 - beta) * t) for a in (2.0, 0.5)], axis=-1)
    np.testing.assert_allclose(run.x, exact, rtol=1e-9, atol=1e-11)
    model = flow(opt, "limit")  # regular at t = 0: ẋ(0) = −∇f(x₀)/2
    np.testing.assert_allclose(model.field(0.0, model.init(x0, Q), Q)["x"], -Q.grad(x0) / 2, rtol=1e-15)


def test_limit_jacobian_is_the_fields_derivative():
    for spec in ("schedule-free-sgd(weight_decay=0.1, r=1)", "schedule-free-adamw(weight_decay=0.1, eps=0.3)"):
        model = flow(sim.optimizer(spec), "limit")
        state = {"e": np.array([0.1, -0.2]), "x": np.array([0.3, 0.5])}
        for t in (0.0, 0.7):
            J = model.jacobian(t, state, ROSEN)
            v, h = np.concatenate([state["e"], state["x"]]), 1e-6
            cols = []
            for j in range(4):
                fields = [model.field(t, {"e": w[:2], "x": w[2:]}, ROSEN) for w in (v + h * np.eye(4)[j],
                                                                                     v - h * np.eye(4)[j])]
                cols.append((np.concatenate(list(fields[0].values())) - np.concatenate(list(fields[1].values()))) / (2 * h))
            np.testing.assert_allclose(J, np.array(cols).T, atol=1e-7)


@pytest.mark.parametrize("spec", ["schedule-free-sgd(lr=0.02, momentum=0.5)",
                                  "schedule-free-sgd(lr=0.02, momentum=0.9, weight_decay=0.2, r=1)",
                                  "schedule-free-adamw(lr=0.02, betas=(0.8, 0.5), eps=0.5)"])
def test_iterates_approach_the_limit_at_order_one(spec):
    r = order(Q, spec, np.array([1.0, -2.0]), flow="limit", horizon=1.0, rungs=4)
    assert r.observed_order == pytest.approx(1.0, abs=0.1), (r.observed_order, r.local_slopes)


def test_with_warmup_the_order_is_one_up_to_a_logarithm():
    """Warmup leaves the first steps' weights short by δ = O(1): c_k = 1/k + δ/(k²w), whose effect
    on x integrates to O(h·log(1/h)); the local slopes rise towards 1 (measured 0.90, 0.92, 0.94, 0.96)."""
    r = order(Q, "schedule-free-sgd(lr=0.02, momentum=0.9, warmup_steps=3)", np.array([1.0, -2.0]), flow="limit",
              horizon=1.0, rungs=5)
    slopes = np.asarray(r.local_slopes)
    assert np.all(np.diff(slopes) > 0) and 0.85 < slopes[0] and slopes[-1] < 1.0, slopes


def test_names_defaults_models_and_refusals():
    sgd, adamw = sim.optimizer("schedule-free-sgd"), sim.optimizer("schedule_free_adamw")
    assert (float(sgd.lr), float(sgd.momentum), float(sgd.weight_lr_power)) == (1.0, 0.9, 2.0)
    assert float(adamw.lr) == 0.0025 and tuple(map(float, adamw.betas)) == (0.9, 0.999)
    assert available_flows(sgd) == available_flows(adamw) == ["exact", "limit"]
    assert sim.optimizer(sim.optimizer("schedule-free-adamw(lr=0.01, warmup_steps=5)").spec) == \
        sim.optimizer("schedule-free-adamw", lr=0.01, warmup_steps=5)
    with pytest.raises(ValueError, match=r"schedule-free-sgd: momentum must be in \(0, 1\)"):
        sim.optimizer("schedule-free-sgd", momentum=0.0)
    with pytest.raises(ValueError, match="warmup_steps must be a whole number"):
        sim.optimizer("schedule-free-sgd", warmup_steps=2.5)
    with pytest.raises(ValueError, match=r"betas\[0\] must be > 0"):
        sim.optimizer("schedule-free-adamw", betas=(0.0, 0.9))
    with pytest.raises(ValueError, match="lr_scale is not available"):
        sim.optimizer("schedule-free-sgd", lr_scale=(1.0, 2.0))


def test_a_swept_batch_is_a_loop_over_members():
    opt = sim.optimizer("schedule-free-adamw", lr=[0.01, 0.02, 0.05], warmup_steps=[0, 3, 10], r=[0.0, 1.0, 2.0])
    batched = sim.iterate(ROSEN, opt, X0, 40).x
    for i in range(3):
        np.testing.assert_array_equal(batched[:, i], sim.iterate(ROSEN, opt.member(i), X0, 40).x)
