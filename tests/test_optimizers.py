"""The discrete updates: hand-computed first steps, torch.optim agreement, invariants of the table."""

import copy

import numpy as np
import pytest
import torch

import simulate as sim
from simulate.solvers.continuous import euler_step
from simulate.landscapes import Quadratic

from helpers import OPTIMIZERS_UNDER_TEST, case_id, run_steps, torch_iterates

LAND = Quadratic(eigenvalues=[1.0, 30.0], angle=0.4)
X0 = np.array([1.3, -0.7])


def grad0():
    return LAND.grad(X0)


# -- first steps by hand (theory §3) ----------------------------------------------------------------
def test_gd_first_step():
    x1 = run_steps(sim.optimizer("gd", lr=0.01), LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 - 0.01 * grad0(), rtol=0, atol=1e-15)


def test_heavy_ball_first_two_steps_and_dampening_skipped_on_step_one():
    lr, mu, tau = 0.01, 0.8, 0.3
    xs = run_steps(sim.optimizer("sgd", lr=lr, momentum=mu, dampening=tau), LAND, X0, 2)
    g0 = grad0()
    x1 = X0 - lr * g0  # b1 = g0: no dampening on the first step
    np.testing.assert_allclose(xs[0], x1, atol=1e-15)
    b2 = mu * g0 + (1 - tau) * LAND.grad(x1)
    np.testing.assert_allclose(xs[1], x1 - lr * b2, atol=1e-15)


def test_nesterov_first_step():
    x1 = run_steps(sim.optimizer("nesterov", lr=0.01, momentum=0.9), LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 - 0.01 * 1.9 * grad0(), atol=1e-15)


def test_rmsprop_first_step_is_ten_lr_long():
    g = grad0()
    x1 = run_steps(sim.optimizer("rmsprop", lr=1e-3), LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 - 1e-3 * g / (np.sqrt(0.01) * np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(np.abs(x1 - X0), 1e-2, rtol=1e-6)  # ≈ lr/√(1−α) = 10·lr


def test_centered_rmsprop_first_step():
    a, g = 0.99, grad0()
    x1 = run_steps(sim.optimizer("rmsprop", lr=1e-3, centered=True), LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 - 1e-3 * g / (np.sqrt((1 - a) * a) * np.abs(g) + 1e-8), rtol=1e-13)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_first_step_is_sign_like(name):
    g = grad0()
    opt = sim.optimizer(name, lr=1e-3, weight_decay=0.0)
    x1 = run_steps(opt, LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 - 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adamw_decays_before_the_step():
    g = grad0()
    x1 = run_steps(sim.optimizer("adamw", lr=1e-2, weight_decay=0.5), LAND, X0, 1)[0]
    np.testing.assert_allclose(x1, X0 * (1 - 1e-2 * 0.5) - 1e-2 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adagrad_first_steps_with_decay_and_initial_accumulator():
    lr, delta, s0 = 0.1, 0.5, 0.25
    xs = run_steps(sim.optimizer("adagrad", lr=lr, lr_decay=delta, initial_accumulator_value=s0), LAND, X0, 2)
    g0 = grad0()
    s1 = s0 + g0**2
    x1 = X0 - lr * g0 / (np.sqrt(s1) + 1e-10)
    np.testing.assert_allclose(xs[0], x1, rtol=1e-14)
    g1 = LAND.grad(x1)
    np.testing.assert_allclose(xs[1], x1 - lr / (1 + delta) * g1 / (np.sqrt(s1 + g1**2) + 1e-10), rtol=1e-14)


# -- equivalences --------------------------------------------------------------------------------
def test_momentum_zero_is_gd_and_adamw_without_decay_is_adam():
    np.testing.assert_array_equal(run_steps(sim.optimizer("sgd", lr=0.02), LAND, X0, 50),
                                  run_steps(sim.optimizer("gd", lr=0.02), LAND, X0, 50))
    np.testing.assert_array_equal(run_steps(sim.optimizer("adamw", lr=0.02, weight_decay=0), LAND, X0, 50),
                                  run_steps(sim.optimizer("adam", lr=0.02), LAND, X0, 50))


def test_dampening_equal_to_momentum_is_the_ema_form_after_step_one():
    lr, mu = 0.01, 0.9
    xs = run_steps(sim.optimizer("sgd", lr=lr, momentum=mu, dampening=mu), LAND, X0, 30)
    x, b = X0 - lr * grad0(), grad0()  # step 1: b1 = g
    for k in range(1, 30):
        b = mu * b + (1 - mu) * LAND.grad(x)
        x = x - lr * b
        np.testing.assert_allclose(xs[k], x, rtol=1e-13, atol=1e-15)


# -- torch.optim, step for step --------------------------------------------------------------------
TORCH = {"gd": torch.optim.SGD, "momentum": torch.optim.SGD, "sgd": torch.optim.SGD, "nesterov": torch.optim.SGD,
         "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
         "adagrad": torch.optim.Adagrad}
PRESET_KWARGS = {"momentum": dict(momentum=0.9), "nesterov": dict(momentum=0.9, nesterov=True)}


@pytest.mark.parametrize("case", OPTIMIZERS_UNDER_TEST, ids=case_id)
@pytest.mark.parametrize("land_name", ["quadratic", "rosenbrock"])
def test_agrees_with_torch_optim_to_rounding(case, land_name):
    name, kw = case
    land = LAND if land_name == "quadratic" else sim.landscape("rosenbrock")
    x0 = X0 if land_name == "quadratic" else np.array([-1.2, 1.0])
    kw = dict(kw, lr=kw["lr"] / 10) if land_name == "rosenbrock" else kw  # stay in the stable regime
    # 100 steps: later, near the minimum, centered RMSprop's √(v − ḡ²) cancels catastrophically and
    # amplifies last-bit differences (measured: ≤ 4e-16 up to step 120, 1e-8 after).
    ours = run_steps(sim.optimizer(name, **kw), land, x0, 100)
    ref = torch_iterates(TORCH[name], {**PRESET_KWARGS.get(name, {}), **kw}, land, x0, 100)
    # Only the order of floating-point operations may differ (torch fuses multiply-adds).
    assert np.max(np.abs(ours - ref)) <= 1e-12 * np.max(np.abs(ref)), np.max(np.abs(ours - ref))


# -- invariants over the whole table -----------------------------------------------------------------
@pytest.mark.parametrize("case", OPTIMIZERS_UNDER_TEST, ids=case_id)
def test_step_is_pure_float64_and_shape_preserving(case, rng):
    opt = sim.optimizer(case[0], **case[1])
    x0 = rng.normal(size=(4, 3, 2))
    state = opt.init(x0)
    state = opt.step(state, LAND, 1)
    before = copy.deepcopy(state)
    new = opt.step(state, LAND, 2)
    for key in state:
        np.testing.assert_array_equal(state[key], before[key])  # input untouched
        assert new[key].shape == (4, 3, 2) and new[key].dtype == np.float64
    assert list(new) == list(opt.state_names()) and list(new)[-1] == "x"


@pytest.mark.parametrize("case", OPTIMIZERS_UNDER_TEST, ids=case_id)
def test_one_step_is_one_semi_implicit_euler_step_of_the_lift(case):
    """The design rule: iterating the Euler step of the field reproduces the optimizer to rounding."""
    opt = sim.optimizer(case[0], **case[1])
    land = sim.landscape("rosenbrock")
    x0 = np.array([-1.2, 1.0])
    opt = sim.optimizer(case[0], **dict(case[1], lr=case[1]["lr"] / 10))
    discrete = run_steps(opt, land, x0, 100)
    state = opt.flow_init(x0, land)
    for k in range(1, 101):
        state = euler_step(land, opt, state, k)
        np.testing.assert_allclose(state["x"], discrete[k - 1], rtol=1e-12, atol=1e-14)


def test_euler_step_from_the_discrete_state_matches_each_step(rng):
    """Step by step from the same state (not just along one run), at several step indices."""
    for name, kw in OPTIMIZERS_UNDER_TEST:
        opt = sim.optimizer(name, **kw)
        state = opt.init(rng.normal(size=(5, 2)))
        for k in range(1, 4):
            state = opt.step(state, LAND, k)
        for k in (4, 9, 30):
            a, b = opt.step(state, LAND, k), euler_step(LAND, opt, state, k)
            for key in a:
                np.testing.assert_allclose(b[key], a[key], rtol=1e-13, atol=1e-15, err_msg=f"{name} {kw} {key}")


def test_dampening_initial_buffer_reproduces_torchs_first_step():
    opt = sim.optimizer("sgd", lr=0.01, momentum=0.8, dampening=0.3)
    b0 = opt.flow_init(X0, LAND)["b"]
    np.testing.assert_allclose(b0, 0.3 * grad0() / 0.8, rtol=1e-15)


# -- hyperparameter arrays ----------------------------------------------------------------------------
SWEEPS = [
    ("sgd", dict(lr=[0.01, 0.02, 0.03], momentum=[0.0, 0.5, 0.9], dampening=[0.0, 0.2, 0.0])),
    ("nesterov", dict(lr=[0.01, 0.02, 0.03], momentum=[0.1, 0.5, 0.9])),
    ("rmsprop", dict(lr=[0.001, 0.01, 0.02], alpha=[0.9, 0.99, 0.5], momentum=[0.0, 0.3, 0.9], centered=True)),
    ("adam", dict(lr=[0.001, 0.01, 0.1], betas=([0.9, 0.5, 0.0], 0.999), eps=[1e-8, 1e-3, 1e-8], amsgrad=True)),
    ("adamw", dict(lr=0.01, weight_decay=[0.0, 0.1, 1.0])),
    ("adagrad", dict(lr=[0.1, 0.5, 1.0], lr_decay=[0.0, 0.1, 0.0], initial_accumulator_value=[0.0, 1.0, 0.1])),
]


@pytest.mark.parametrize("case", SWEEPS, ids=lambda c: c[0])
def test_array_hyperparameters_equal_a_loop_over_members(case):
    name, kw = case
    opt = sim.optimizer(name, **kw)
    assert opt.batch_shape == (3,)
    batched = run_steps(opt, LAND, X0, 40)
    assert batched.shape == (40, 3, 2)
    for i in range(3):
        member = opt.member(i)
        assert member.batch_shape == ()
        np.testing.assert_allclose(batched[:, i], run_steps(member, LAND, X0, 40), rtol=1e-12, atol=1e-14)


def test_hyperparameter_grid_broadcasts_against_starts():
    lr = np.array([[0.01], [0.02]])  # (2, 1) against 3 starts -> batch (2, 3)
    starts = np.array([[1.0, 1.0], [-1.0, 0.5], [0.2, -0.3]])
    xs = run_steps(sim.optimizer("gd", lr=lr), LAND, starts, 5)
    assert xs.shape == (5, 2, 3, 2)
    np.testing.assert_allclose(xs[:, 1, 2], run_steps(sim.optimizer("gd", lr=0.02), LAND, starts[2], 5), rtol=1e-15)


def test_a_tuple_is_an_array_except_for_betas():
    assert sim.optimizer("gd(lr=(0.01, 0.05, 0.11))").batch_shape == (3,)
    opt = sim.optimizer("adam(betas=((0.9, 0.5), 0.999), eps=(1e-8, 1e-6))")
    assert opt.batch_shape == (2,) and opt.betas[0].shape == (2,) and opt.betas[1].shape == ()


def test_incompatible_arrays_are_refused():
    with pytest.raises(ValueError, match="broadcast"):
        sim.optimizer("sgd", lr=[0.1, 0.2], momentum=[0.1, 0.2, 0.3])


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw, match", [
    ("gd", dict(lr=-0.1), "lr must be > 0"),
    ("gd", dict(lr=0.0), "lr must be > 0"),
    ("adam", dict(lr=float("nan")), "lr must be finite"),
    ("sgd", dict(lr=[0.1, -0.2]), r"lr must be > 0.*-0\.2"),
    ("momentum", dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    ("adam", dict(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\)"),
    ("adam", dict(betas=0.9), r"betas must be a pair"),
    ("rmsprop", dict(alpha=-0.1), "alpha"),
    ("rmsprop", dict(eps=0.0), "eps must be > 0"),
    ("adagrad", dict(lr_decay=-1.0), "lr_decay"),
    ("sgd", dict(momentum=0.0, nesterov=True), "nesterov requires momentum > 0"),
    ("nesterov", dict(dampening=0.1), "the name fixes dampening=0.0; use .sgd. to set it freely"),
    ("gd", dict(momentum=0.9), "fixes momentum"),
    ("adam", dict(lr="fast"), "must be a number"),
    ("adam", dict(amsgrad=(1, 2)), "amsgrad must be true or false"),
    ("rmsprop", dict(centered=1), "centered must be true or false"),
])
def test_invalid_hyperparameters_say_which_and_why(name, kw, match):
    with pytest.raises(ValueError, match=match):
        sim.optimizer(name, **kw)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'.*Did you mean 'adam'"):
        sim.optimizer("adma")
    with pytest.raises(ValueError, match=r"has no hyperparameter 'beta'.*Did you mean 'betas'"):
        sim.optimizer("adam", beta=0.9)


def test_presets_and_specs():
    assert sim.optimizer("nesterov").nesterov and float(sim.optimizer("nesterov").momentum) == 0.9
    assert float(sim.optimizer("momentum", momentum=0.5).momentum) == 0.5
    opt = sim.optimizer("adam(lr=0.01, betas=(0.8, 0.99))")
    assert float(opt.lr) == 0.01 and [float(b) for b in opt.betas] == [0.8, 0.99]
    assert sim.optimizer("rmsprop:lr=0.5,centered=true").centered
    assert sim.optimizer("adam(lr=0.01)").label == "adam(lr=0.01)"
    assert sim.optimizer("momentum", lr=0.1, momentum=0.95).label == "momentum(lr=0.1, momentum=0.95)"


def test_time_per_step():
    assert float(sim.optimizer("adam", lr=0.02).time_per_step) == 0.02
    assert float(sim.optimizer("adagrad", lr=0.1).time_per_step) == pytest.approx(0.01, rel=1e-15)
    np.testing.assert_array_equal(sim.optimizer("gd", lr=[0.1, 0.2]).time_per_step, [0.1, 0.2])


def test_errors_name_the_preset_the_user_typed_and_reject_booleans_as_numbers():
    with pytest.raises(ValueError, match=r"^momentum: momentum must be in \[0, 1\), got 1.5"):
        sim.optimizer("momentum", momentum=1.5)
    with pytest.raises(ValueError, match="lr must be a number, got True"):
        sim.optimizer("adam(lr=true)")


def test_adam_bias_corrections_are_computed_as_torch_does_in_python_floats():
    # torch: bias_correction1 = 1 - beta1 ** step and math.sqrt(1 - beta2 ** step) on Python floats
    # (libm's pow). numpy's vectorized power differs in the last bit for a few percent of (β, k),
    # and its ** fast path squares for k = 2; the step and the compiled engine's table use neither.
    import math

    rng = np.random.default_rng(0)
    for b1, b2 in [(0.8, 0.99), (0.9, 0.999), *zip(rng.uniform(0.5, 0.999, 20), rng.uniform(0.9, 0.99999, 20))]:
        opt = sim.optimizer("adam", betas=(float(b1), float(b2)))
        steps = np.arange(1, 400)
        table1, table2 = opt._corrections(steps)
        for k in steps:
            c1, c2 = opt._corrections(int(k))
            assert c1 == 1 - float(b1) ** float(k) == table1[k - 1]
            assert c2 == math.sqrt(1 - float(b2) ** float(k)) == table2[k - 1]


def test_a_pairs_elements_are_set_by_their_own_names():
    # as sweep axes and the tuned table name them: beta1 is betas[0], the other element kept
    assert sim.optimizer("adam(beta1=0.8)") == sim.optimizer("adam(betas=(0.8, 0.999))")
    assert sim.optimizer("adam", beta2=0.99, lookahead=5).inner == sim.optimizer("adam(betas=(0.9, 0.99))")
    assert sim.optimizer("rprop(etaminus=0.4)").etas == (0.4, 1.2)
    with pytest.raises(ValueError, match="give betas or beta1, not both"):
        sim.optimizer("adam(beta1=0.8, betas=(0.9, 0.9))")
