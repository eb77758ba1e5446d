"""Schedules and gradient transforms wrap any optimizer (simulate.optimizers.wrappers): no optimizer
declares them, the wrapper answers the protocol by asking the optimizer inside, and specs, sweeps
and the lift see one optimizer."""

import dataclasses

import numpy as np
import pytest

import simulate as sim
from simulate.optimizers import FAMILIES, OPTIMIZERS
from simulate.optimizers.base import Optimizer
from simulate.optimizers.wrappers import TRANSFORMS, Wrapped, configure, wrap

Q = sim.landscape("quadratic(eigenvalues=(1, 10))")
X0 = np.array([1.0, 1.0])


def test_no_optimizer_declares_a_schedule_or_a_transform():
    for cls in FAMILIES:
        assert not set(TRANSFORMS) & {f.name for f in dataclasses.fields(cls)}, cls.name


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_takes_a_schedule_and_a_clip_and_its_spec_rebuilds_it(name):
    opt = sim.optimizer(name, schedule="cosine(warmup=2)", clip_norm=2.0)
    assert isinstance(opt, Wrapped) and not isinstance(opt.inner, Wrapped)
    assert opt.spec.startswith(f"{opt.inner.display_name}(") and "clip_norm=2" in opt.spec
    assert sim.optimizer(opt.spec) == opt
    assert opt.name == opt.inner.name and opt.state_names() == opt.inner.state_names()
    # the lrs follow the schedule; one step of the run is the inner optimizer at that lr, clip kept
    lrs = opt.lrs(10)
    np.testing.assert_array_equal(lrs, opt.schedule.lrs(opt.inner.lr, 10))
    step = opt.at_lr(lrs[3])
    assert step.schedule is None and step.clip_norm == 2.0 and float(step.lr) == float(lrs[3])


def test_the_wrapper_answers_the_protocol_with_the_inner_optimizers_answers():
    inner = sim.optimizer("momentum", lr=0.1, momentum=0.5)
    opt = wrap(inner, clip_value=3.0)
    assert float(opt.threshold_factor()) == float(inner.threshold_factor()) == 3.0  # 2(1 + μ)
    assert opt.models() == inner.models() and opt.lift_energy_name == inner.lift_energy_name
    assert opt.limit_speed() == inner.limit_speed()  # a family's own method, reached through the wrapper
    x = np.array([[0.3, -0.2]])
    np.testing.assert_array_equal(opt.coupled_value(x, Q), inner.coupled_value(x, Q))
    # the update sees the clipped gradient: the wrapper's landscape view, not the bare one
    g = opt.seen(Q).grad(np.array([5.0, 5.0]))
    np.testing.assert_array_equal(g, np.clip(Q.grad(np.array([5.0, 5.0])), -3, 3))
    assert inner.seen(Q) is Q and not inner.transformed and opt.transformed


def test_replace_and_configure_route_settings_to_the_wrapper_and_hyperparameters_inside():
    inner = sim.optimizer("adam", lr=0.01)
    opt = configure(inner, clip_norm=1.0, betas=(0.8, 0.9))
    assert opt.clip_norm == 1.0 and opt.inner.betas[0] == 0.8
    again = opt.replace(lr=0.02, schedule="step(step_size=5)")
    assert float(again.lr) == 0.02 and again.clip_norm == 1.0 and again.schedule.spec.startswith("step")
    bare = again.replace(schedule=None, clip_norm=None)
    assert type(bare) is type(inner) and float(bare.lr) == 0.02  # no settings left: no wrapper
    nested = Wrapped(wrap(inner, clip_norm=1.0), clip_value=2.0)  # a wrapper of a wrapper is one wrapper
    assert not isinstance(nested.inner, Wrapped) and (nested.clip_norm, nested.clip_value) == (1.0, 2.0)
    assert sim.optimizer(inner, clip_norm=1.0) == wrap(inner, clip_norm=1.0)
    with pytest.raises(ValueError, match="clip_norm must be a positive number"):
        wrap(inner, clip_norm=-1.0)
    with pytest.raises(ValueError, match="lr_scale is not available"):
        wrap(sim.optimizer("heun"), lr_scale=(1.0, 2.0))


def test_a_wrapped_run_is_the_inner_step_at_each_scheduled_lr_on_the_clipped_gradient():
    opt = sim.optimizer("nesterov(lr=0.05, schedule='cosine', clip_norm=0.5)")
    run = sim.iterate(Q, opt, X0, 6)
    state, seen = opt.inner.init(X0), opt.seen(Q)
    for k, lr in enumerate(opt.lrs(6), start=1):
        state = opt.inner.at_lr(lr).step(state, seen, k)
        np.testing.assert_array_equal(run.x[k], state["x"])


def test_the_delegated_protocol_is_the_whole_base_protocol():
    """Every attribute of the base protocol that the wrapper does not change is the inner
    optimizer's: a method added to Optimizer is never silently the base default on a wrapper."""
    from simulate.optimizers.wrappers import _OWN

    opt = wrap(sim.optimizer("rmsprop", lr=0.01, momentum=0.5), clip_norm=1.0)
    checked = 0
    for name in vars(Optimizer):
        if name.startswith("__") or name in _OWN:
            continue
        mine, theirs = getattr(opt, name), getattr(opt.inner, name)
        if callable(mine) and hasattr(mine, "__self__"):  # a bound method: bound to the inner optimizer
            assert mine.__self__ in (opt.inner, type(opt.inner)), name
        else:
            assert type(mine) is type(theirs) and np.array_equal(np.asarray(mine, dtype=object),
                                                                 np.asarray(theirs, dtype=object)), name
        checked += 1
    assert checked > 30
    assert opt.lift_order == opt.inner.lift_order == 0.5 and opt.lift_energy_name == ""  # RMSprop's, not the base's
