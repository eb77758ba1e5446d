"""The compiled engine gives the numpy path's bits on every optimizer × landscape pair it covers.

The pairs come from the registries (every registered optimizer whose ``kernel()`` is declared,
every registered landscape with a pointwise gradient, the families of any dimension also in 1, 3
and 9 coordinates, and formula landscapes), not from a hand-kept list. Every covered configuration
of tests/helpers.OPTIMIZERS_UNDER_TEST runs compiled on rosenbrock and himmelblau
(tests/test_engine.py) and, one after the other, on the covered landscapes here; the full matrix
of registered names × landscapes is marked slow (each landscape compiles one loop per optimizer
variant, 10-20 s for 9 coordinates), the registered names in a rotation over the landscapes.
"""

import dataclasses

import numpy as np
import pytest

import simulate as sim
from simulate.landscapes import LANDSCAPES
from simulate.optimizers import OPTIMIZERS
from simulate.solvers.engine import not_covered
from tests.helpers import OPTIMIZERS_UNDER_TEST

#: Formula landscapes whose every operation has a compiled form with numpy's bits, and ones without.
FORMULAS = ["(1-x)**2 + 100*(y-x**2)**2", "sin(x)*cos(y) + abs(x - y)/(1 + x**2)",
            "x1**2 + 3*x2*x3 - x3/(1 + x1**2) + cos(x2)"]
NOT_COMPILED = ["x**4 + y**2", "exp(x) + y**2", "log(1 + x**2) + tanh(y)", "x**2 + y**2.5", "sqrt(1 + x**2 + y**2)"]


def _dims(name):
    """The coordinates a registered landscape comes in: its default, and 1, 3 and 9 for a family with
    a ``dim`` parameter (9: numpy's sum switches to its pairwise order from 8 terms)."""
    base = sim.landscape(name)
    if not any(f.init and f.name == "dim" for f in dataclasses.fields(base)):
        return [name]
    return [name] + [f"{name}(dim={d})" for d in (1, 3, 9) if _valid(f"{name}(dim={d})")]


def _valid(spec):
    try:
        sim.landscape(spec)
    except ValueError:  # quadratic takes any dim; rosenbrock needs 2 or more
        return False
    return True


LANDSCAPE_SPECS = [spec for name in LANDSCAPES for spec in _dims(name)] + FORMULAS
COVERED_LANDSCAPES = [s for s in LANDSCAPE_SPECS if sim.landscape(s).pointwise_grad is not None]
COVERED_CONFIGS = [c for c in OPTIMIZERS_UNDER_TEST if not_covered(sim.optimizer(c[0], **c[1]), sim.landscape("himmelblau")) is None]
COVERED_NAMES = [n for n in OPTIMIZERS if not_covered(sim.optimizer(n), sim.landscape("himmelblau")) is None]


def _starts(land, n=64):
    """Starts in the plot box, and a few far out (they diverge or escape)."""
    x = land.sample(n, seed=7)
    x[-4:] *= np.array([3.0, 10.0, 30.0, 1e3])[:, None]
    return x


def _same_bits(opt, land, x0, steps=60):
    a = sim.iterate(land, opt, x0, steps, engine="compiled")
    b = sim.iterate(land, opt, x0, steps, engine="numpy")
    np.testing.assert_array_equal(a.x, b.x)  # NaN where equal NaN
    np.testing.assert_array_equal(a.f, b.f)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    return a


def test_the_coverage_is_what_the_registries_declare():
    # every family with an elementwise kernel is covered; the schemes with stages or a solve are not
    assert {"gd", "momentum", "nesterov", "sgd", "rmsprop", "adam", "adamw", "adagrad"} <= set(COVERED_NAMES)
    assert "proximal" not in COVERED_NAMES and "heun" not in COVERED_NAMES
    assert {"rosenbrock", "himmelblau", "beale", "booth", "rastrigin", "six-hump-camel", "saddle", "monkey-saddle",
            "styblinski-tang", "scalar-net", "double-well", "rastrigin(dim=9)", "rosenbrock(dim=3)",
            "double-well(dim=1)"} <= set(COVERED_LANDSCAPES)
    assert "quadratic" not in COVERED_LANDSCAPES  # a matrix product: numpy's BLAS sums in its own order
    assert all(f in COVERED_LANDSCAPES for f in FORMULAS)
    for text in NOT_COMPILED:
        land = sim.landscape(text)
        assert land.pointwise_grad is None and "no pointwise gradient" in not_covered(sim.optimizer("gd"), land)
        with pytest.raises(ValueError, match="is not covered.*no pointwise gradient"):
            sim.iterate(land, "gd", steps=2, engine="compiled")


#: Compiled in the fast tests: every covered landscape but the 9-D ones (compiling 9 unrolled
#: coordinates takes 10-20 s; their functions are checked against numpy below, and the slow matrix
#: compiles them), and one of those.
COMPILED = [s for s in COVERED_LANDSCAPES if "dim=9" not in s] + ["rastrigin(dim=9)"]


@pytest.mark.parametrize("land", COMPILED)
def test_every_landscape_runs_compiled_with_the_numpy_bits(land):
    # each landscape with another covered configuration (all of them over the landscapes), the
    # lr raised for a few members so that they diverge
    i = COMPILED.index(land)
    name, kw = COVERED_CONFIGS[i % len(COVERED_CONFIGS)]
    L = sim.landscape(land)
    x0 = _starts(L)
    lr = np.full(len(x0), float(kw["lr"]) / 100)
    lr[:8] *= 1e3
    run = _same_bits(sim.optimizer(name, **{**kw, "lr": lr}), L, x0)
    assert run.diverged.any() and not run.diverged.all()


@pytest.mark.parametrize("land", COVERED_LANDSCAPES)
def test_the_pointwise_functions_are_the_numpy_bits(land):
    # the functions of d scalars the engine compiles, run on numpy arrays: the landscape's own bits
    L = sim.landscape(land)
    x = _starts(L, 500)
    (grad, params), (value, vparams) = L.pointwise_grad, L.pointwise_value
    with np.errstate(all="ignore"):
        g = np.stack(np.broadcast_arrays(*grad(*x.T, params)), axis=-1)
        np.testing.assert_array_equal(g, L.grad(x))
        np.testing.assert_array_equal(np.broadcast_to(value(*x.T, vparams), len(x)), L.value(x))


def test_per_member_tables_and_hyperparameters_match_numpy():
    # per-member betas: Adam's bias corrections become a (steps + 1) × members table
    L = sim.landscape("beale")
    x0 = _starts(L, 30)
    _same_bits(sim.optimizer("adam", lr=0.01, betas=(np.linspace(0.5, 0.95, 30), 0.999)), L, x0)
    _same_bits(sim.optimizer("adagrad", lr=0.1, initial_accumulator_value=np.linspace(0, 1, 30),
                             lr_decay=np.linspace(0, 0.1, 30)), L, x0)


#: Every covered (optimizer, landscape) pair: each landscape in its own dimension; the loop for other
#: dimensions is the same generated text with more coordinates, run above with one configuration
#: each (compiling 9 unrolled coordinates per optimizer would cost minutes for no new pair).
MATRIX = [s for s in COVERED_LANDSCAPES if "(dim=" not in s]


#: Optimizers per landscape in the rotation below: each compile of a pair costs 1-2 s, and the
#: generated loop is the optimizer's kernel text joined to the landscape's, so a pair checks what
#: the two contribute together; a rotation puts every optimizer on several landscapes and every
#: landscape under several optimizers at a quarter of the full matrix's cost.
PER_LANDSCAPE = 3


def _rotation(i: int) -> list[str]:
    n = len(COVERED_NAMES)
    return [COVERED_NAMES[(PER_LANDSCAPE * i + r) % n] for r in range(min(PER_LANDSCAPE, n))]


def test_the_rotation_puts_every_optimizer_on_two_landscapes():
    runs = [name for i in range(len(MATRIX)) for name in _rotation(i)]
    assert all(runs.count(name) >= 2 for name in COVERED_NAMES), {n: runs.count(n) for n in COVERED_NAMES}


@pytest.mark.slow
@pytest.mark.parametrize("land", MATRIX)
def test_registered_optimizers_in_rotation_on_every_landscape(land):
    L = sim.landscape(land)
    x0 = _starts(L, 32)
    for name in _rotation(MATRIX.index(land)):
        _same_bits(sim.optimizer(name, lr=1e-3), L, x0, steps=30)
