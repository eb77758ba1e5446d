"""Wrong types from Python are refused at the public entry points, naming the argument
(simulate._checks.checked), never by an error from inside numpy, scipy, matplotlib or difflib."""

import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import simulate as sim
from simulate.analysis.ratemap import rate_map

XY = [1.0, 1.0]
#: Each public function with arguments that make a small valid call.
PUBLIC = {
    "iterate": (sim.iterate, dict(optimizer="gd", landscape="booth", start=XY, steps=3)),
    "integrate": (sim.integrate, dict(optimizer="gd", landscape="booth", start=XY, t=[0.0, 0.1])),
    "sde": (sim.sde, dict(optimizer="gd", landscape="booth", start=XY, steps=3, noise=0.1, substeps=1)),
    "order": (sim.order, dict(optimizer="gd(lr=0.1)", landscape="booth", start=XY, horizon=0.2, rungs=2)),
    "order_study": (sim.order_study, dict(landscape="booth", optimizers=["gd(lr=0.1)"], start=XY, horizon=0.2, rungs=2)),
    "sweep": (sim.sweep, dict(optimizers="gd", landscape="booth", axes="lr=0.01,0.02", steps=3)),
    "plot": (sim.plot, dict(landscape="booth", optimizers=["gd"], start=XY, steps=3)),
    "ensemble": (sim.ensemble, dict(landscape="booth", optimizers=["gd"], start=XY, steps=3, noise=0.1, paths=2)),
    "run_experiment": (sim.run_experiment, dict(landscape="booth", optimizers=["gd"], start=XY, steps=3)),
    "rate_map": (rate_map, dict(optimizer="momentum", lr_lambda="lr_lambda=0.1:1:3", other="momentum=0.1,0.5",
                                steps=4)),
    "optimizer": (sim.optimizer, dict(name="gd")),
    "landscape": (sim.landscape, dict(name="booth")),
}
#: Arguments that may be added to a call (each function takes those its signature lists).
EXTRA = dict(lr=0.01, seed=0, method="RK45", rtol=1e-6, atol=1e-8, paths=2, flow="exact", escape_radius=10.0,
             sharpness=False, start=XY, tol=1e-6, gtol=1e-8, batch_size=None, caption="c", metric="final_loss")

NOT_A_NUMBER = [object(), {1: 2}, {1, 2}, b"12", 1 + 2j, "abc", lambda: 0, [[1.0], [1.0, 2.0]], np.array(["a"]), [None]]
NOT_TEXT = [object(), {1: 2}, {1}, b"gd", 1 + 2j, 3, 2.5, lambda: 0, np.array([1.0]), [object()]]


def _wrong(name: str) -> list:
    """Values of the wrong type for the argument ``name``."""
    text = {"opt", "optimizer", "optimizers", "landscape", "name", "method", "flow", "metric", "caption", "axes",
            "lr_lambda", "other"}
    if name in text:
        return NOT_TEXT
    if name in {"sharpness"}:
        return [object(), "yes", 1 + 2j, b"1", [True]]
    return NOT_A_NUMBER


def _cases():
    import inspect

    out = []
    for fname, (function, base) in PUBLIC.items():
        params = inspect.signature(function).parameters
        names = [n for n in {**base, **EXTRA} if n in params and n not in ("axes", "lr_lambda", "other")]
        out += [(fname, n) for n in names]
    return out


CASES = _cases()


@seed(20261207)
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(CASES), data=st.data())
def test_wrong_types_are_refused_at_the_entry_point_naming_the_argument(case, data):
    fname, argument = case
    function, base = PUBLIC[fname]
    value = data.draw(st.sampled_from(_wrong(argument)))
    call = {**base, **({argument: EXTRA[argument]} if argument not in base else {})}
    call[argument] = value
    with pytest.raises((TypeError, ValueError)) as info:
        function(**call)
    message = str(info.value)
    assert argument in message and "\n" not in message, (fname, argument, value, message)
    frames = traceback.extract_tb(info.tb)
    assert "/simulate/" in frames[-1].filename, (fname, argument, value, frames[-1])


@pytest.mark.parametrize("fname", sorted(PUBLIC))
def test_the_small_valid_calls_run(fname):
    function, base = PUBLIC[fname]
    assert function(**base) is not None


def test_numbers_beyond_the_edge_are_refused_by_name():
    with pytest.raises(ValueError, match=r"iterate: steps must be at most 1e\+12, got 1000…\(401 digits\)"):
        sim.iterate("booth", "gd", XY, 10**400)
    with pytest.raises(ValueError, match="iterate: start must be finite"):
        sim.iterate("booth", "gd", [np.inf, 1.0], 3)
    with pytest.raises(TypeError, match=r"sweep: optimizers\[1\] must be an optimizer"):
        sim.sweep("booth", ["gd", 3], "lr=0.01,0.02", steps=3)
    with pytest.raises(TypeError, match="plot: steps must be a whole number, got float 2.5"):
        sim.plot("booth", ["gd"], XY, 2.5)
