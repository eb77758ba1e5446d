"""Lion: lion-pytorch's step bit for bit, the exact lift's Euler identity, its Filippov models, the box."""

import numpy as np
import pytest
import torch
from lion_pytorch import Lion as ReferenceLion

import simulate as sim
from simulate.models import flow
from simulate.solvers.continuous import euler_step
from helpers import run_steps

ROSENBROCK = sim.landscape("rosenbrock")
QUADRATIC = sim.landscape("quadratic")
#: Its minimizer (3, −2) lies outside the box ‖x‖∞ ≤ 1/λ for λ = 1: the box binds.
OUTSIDE = sim.landscape("(x - 3)**2 + 2*(y + 2)**2 + x*y/2")

CONFIGS = [
    dict(),
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.5),
    dict(lr=0.003, betas=(0.95, 0.98), weight_decay=0.02, decoupled_weight_decay=True),
    dict(lr=0.02, betas=(0.0, 0.5), weight_decay=0.1),
    dict(lr=0.01, betas=(1.0, 0.9)),
    dict(lr=0.01, betas=(0.9, 1.0), weight_decay=1.0, decoupled_weight_decay=True),
    dict(lr=0.05, betas=(0.5, 0.999)),
]


def reference(kw, land, x0, steps, scheduler=None):
    """lion_pytorch.Lion in float64, fed our landscape's gradient at its own iterates."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        opt = ReferenceLion([p], **kw)
        sched = scheduler(opt) if scheduler else None
        xs = []
        for _ in range(steps):
            opt.zero_grad()
            p.grad = torch.tensor(land.grad(p.detach().numpy()), dtype=torch.float64)
            opt.step()
            if sched:
                sched.step()
            xs.append(p.detach().numpy().copy())
        return np.array(xs)
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("kw", CONFIGS, ids=str)
@pytest.mark.parametrize("land,x0", [(ROSENBROCK, [-1.2, 1.0]), (QUADRATIC, [1.5, -0.7]), (OUTSIDE, [0.3, 0.9])],
                         ids=["rosenbrock", "quadratic", "outside"])
def test_agrees_with_lion_pytorch_bit_for_bit(kw, land, x0):
    x0 = np.array(x0)
    ours = run_steps(sim.optimizer("lion", **kw), land, x0, 200)
    np.testing.assert_array_equal(ours, reference(kw, land, x0, 200))  # measured: 0 in every case


def test_decoupled_decay_divides_by_the_initial_lr_under_a_schedule():
    kw = dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)
    x0 = np.array([0.3, 0.9])
    ours = sim.iterate(OUTSIDE, sim.optimizer("lion", **kw, schedule="step(step_size=10, gamma=0.5)"), x0, 60).x[1:]
    ref = reference(kw, OUTSIDE, x0, 60, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5))
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("kw", CONFIGS, ids=str)
def test_one_step_is_one_semi_implicit_euler_step_of_the_lift(kw):
    opt = sim.optimizer("lion", **kw)
    x0 = np.array([-1.2, 1.0])
    discrete = run_steps(opt, ROSENBROCK, x0, 200)
    lifted = run_steps(opt, ROSENBROCK, x0, 200, step=lambda s, land, k: euler_step(land, opt, s, k))
    # x·(1 − lr·λ) against x − lr·λ·x: one rounding (measured ≤ 1.8e-15)
    np.testing.assert_allclose(lifted, discrete, rtol=1e-13, atol=1e-14)


def test_the_lift_needs_a_positive_beta2_and_says_why():
    with pytest.raises(ValueError, match=r"lion: betas\[1\] must be > 0 .*old momentum"):
        sim.optimizer("lion", betas=(0.9, 0.0))
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\], got 1.5"):
        sim.optimizer("lion", betas=(1.5, 0.9))


def test_the_switching_models_are_discontinuous_and_smooth_to_tanh():
    opt = sim.optimizer("lion", lr=0.01, weight_decay=0.5)
    state = {"m": np.array([0.3, -0.2]), "x": np.array([0.5, 0.4])}
    for kind in ("exact", "limit", "lionk"):
        model = flow(opt, kind)
        assert model.discontinuous
        exact, smooth = model.field(0.0, state, QUADRATIC), model.smoothed(1e-9).field(0.0, state, QUADRATIC)
        for key in exact:  # away from the switches a tiny width is the exact field
            np.testing.assert_allclose(smooth[key], exact[key], rtol=1e-12)
    wide = flow(opt, "limit").smoothed(0.5).field(0.0, state, QUADRATIC)["x"]
    np.testing.assert_allclose(wide, -np.tanh(QUADRATIC.grad(state["x"]) / 0.5) - 0.5 * state["x"])


# -- the box ‖x‖∞ ≤ 1/λ -----------------------------------------------------------------------------
@pytest.mark.parametrize("lr", [0.01, 0.1, 1.0])
def test_the_iterates_keep_the_box_from_inside_and_contract_to_it_from_outside(lr):
    lam = 1.0  # lr·λ ≤ 1
    opt = sim.optimizer("lion", lr=lr, weight_decay=lam)
    inside = run_steps(opt, OUTSIDE, np.array([0.9, -0.95]), 300)
    assert np.max(np.abs(inside)) <= 1 / lam + 1e-12
    start = np.array([7.0, -5.0])
    outside = run_steps(opt, OUTSIDE, start, 300)
    excess = np.maximum(np.max(np.abs(outside), axis=-1) - 1 / lam, 0)
    bound = (np.max(np.abs(start)) - 1 / lam) * (1 - lr * lam) ** np.arange(1, 301)
    assert np.all(excess <= bound + 1e-12)


def test_the_iterates_settle_at_the_minimizer_over_the_box_up_to_their_chatter():
    opt = sim.optimizer("lion", lr=0.005, weight_decay=1.0)
    xs = run_steps(opt, OUTSIDE, np.array([0.0, 0.0]), 3000)  # t = 15: the approach e^(−λt) is over
    # min over ‖x‖∞ ≤ 1 of f: the corner (1, −1) (∇f = (−4.5, 4.5) there points out of the box)
    assert np.max(np.abs(xs[-200:] - [1.0, -1.0])) <= 2 * 0.005


@pytest.fixture(scope="module")
def flows_from_outside():
    opt = sim.optimizer("lion", lr=0.01, weight_decay=1.0)
    out = {}
    for kind in ("limit", "lionk"):
        model = flow(opt, kind).smoothed(1e-3)
        out[kind] = sim.integrate(OUTSIDE, opt, np.array([[4.0, -3.0], [0.5, 0.5]]), t=np.linspace(0, 8, 161),
                                  flow=model, method="LSODA", rtol=1e-8, atol=1e-10)
    return out


@pytest.mark.parametrize("kind", ["limit", "lionk"])
def test_the_flows_end_in_the_box_at_the_minimizer_over_it(kind, flows_from_outside):
    traj = flows_from_outside[kind]
    x = traj.x  # (T, 2 starts, 2)
    assert np.all(np.isfinite(x))
    # |tanh| ≤ 1 keeps d|xᵢ|/dt ≤ 1 − λ|xᵢ|: the excess decays at least like e^{−λt}
    excess = np.max(np.abs(x), axis=-1) - 1.0
    assert np.all(excess[:, 0] <= 3.0 * np.exp(-np.asarray(traj.t)) + 1e-6)
    assert np.all(excess[:, 1] <= 1e-6)  # from inside: never leaves
    np.testing.assert_allclose(x[-1], [[1.0, -1.0], [1.0, -1.0]], atol=0.02)  # O(δ) inside the corner


# -- Lion-𝒦: the Lyapunov function H ------------------------------------------------------------------
def _field_and_grad_H(model, land, state, h=1e-6):
    F = model.field(0.0, state, land)
    dH = np.zeros(state["x"].shape[:-1])
    for key in ("m", "x"):
        for i in range(state[key].shape[-1]):
            up, dn = ({**state, key: state[key].copy()} for _ in range(2))
            up[key][..., i] += h
            dn[key][..., i] -= h
            dH += (model.energy(0.0, up, land) - model.energy(0.0, dn, land)) / (2 * h) * F[key][..., i]
    return dH


@pytest.mark.parametrize("delta", [1.0, 0.1])
@pytest.mark.parametrize("beta1", [0.0, 0.9])
def test_H_decreases_along_the_smoothed_lion_k_flow_at_random_states(delta, beta1):
    land = sim.landscape("(x - 3)**2 + 2*(y + 2)**2 + sin(3*x)*cos(2*y)")  # nonconvex
    opt = sim.optimizer("lion", lr=0.01, betas=(beta1, 0.98), weight_decay=0.5)  # γ = 2, box 2
    model = flow(opt, "lionk").smoothed(delta)
    rng = np.random.default_rng(0)
    state = {"m": rng.normal(scale=3, size=(4000, 2)), "x": rng.uniform(-1.9, 1.9, size=(4000, 2))}
    assert np.max(_field_and_grad_H(model, land, state)) < 0  # measured: at most −0.10 (δ = 1, β₁ = 0)


def test_H_is_non_increasing_along_an_integrated_smoothed_lion_k_flow():
    opt = sim.optimizer("lion", lr=0.01, betas=(0.9, 0.98), weight_decay=0.5)
    model = flow(opt, "lionk").smoothed(0.1)
    traj = sim.integrate(OUTSIDE, opt, np.array([0.5, -0.3]), t=np.linspace(0, 10, 201), flow=model,
                         method="LSODA", rtol=1e-10, atol=1e-12)
    H = model.energy(0.0, traj.state, OUTSIDE)
    assert np.all(np.diff(H) <= 1e-8 * np.max(np.abs(H)))
    assert H[-1] < H[0] - 1.0


def test_H_is_named_only_where_it_exists():
    assert flow(sim.optimizer("lion", weight_decay=0.5), "lionk").energy_name
    assert flow(sim.optimizer("lion"), "lionk").energy(0.0, {"m": np.zeros(2), "x": np.ones(2)}, QUADRATIC) is None
    assert flow(sim.optimizer("lion"), "limit").energy_name == "f"
    assert flow(sim.optimizer("lion", weight_decay=0.1), "limit").energy_name == ""


# -- orders ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,spec", [("exact", "lion(lr=0.01, weight_decay=0.3)"),
                                       ("limit", "lion(lr=0.002, weight_decay=0.3)"),
                                       ("lionk", "lion(lr=0.01, betas=(0.9, 0.95), weight_decay=0.3)")])
def test_iterates_approach_each_model_at_order_one_before_any_switch(kind, spec):
    # from (1.5, −0.7) on the quadratic the gradient keeps its signs up to t = 0.3: no switch is met
    r = sim.order(QUADRATIC, spec, start=[1.5, -0.7], flow=kind, horizon=0.3, rungs=4)
    assert set(r.status) == {"ok"}
    assert r.observed_order == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=np.array([1e-3, 0.02]), weight_decay=0.5, betas=(0.8, 0.95)),
                                dict(lr=0.03, weight_decay=0.2, decoupled_weight_decay=True)])
def test_lion_runs_compiled_with_numpys_bits(kw):
    from simulate.solvers.engine import not_covered

    land = sim.landscape("himmelblau")
    opt = sim.optimizer("lion", **kw)
    assert not_covered(opt, land) is None
    x0 = np.array([[0.0, 0.0], [-1.0, 2.5]])
    np.testing.assert_array_equal(sim.iterate(land, opt, x0, 200, engine="compiled").x,
                                  sim.iterate(land, opt, x0, 200, engine="numpy").x)
