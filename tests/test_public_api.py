"""The public Python surface follows one convention (simulate._signature): the landscape first, then
the optimizer(s), then ``start``; every parameter keyword-passable; result attributes named as their
files name them. The old spellings (``x0=``, ``opt=``, the optimizer first, ``OrderResult.order``)
still give the same results, each with exactly one deprecation warning pointing at the caller's line."""

import inspect
import json
import warnings

import numpy as np
import pytest

import simulate as sim
from simulate._signature import OldSpelling

XY = [1.0, 1.0]
#: Public callables whose parameters are not a landscape/optimizer call (records, registries' makers).
OLD_NAMES = {"x0", "opt"}


def _public_functions():
    out = {}
    for name in sim.__all__:
        value = getattr(sim, name)
        if inspect.isfunction(inspect.unwrap(value)):
            out[name] = value
    out["Explorer"] = sim.Explorer.__init__  # a class built with a landscape and optimizers, like explore()
    return out


PUBLIC = _public_functions()


def test_the_surface_is_what_is_walked():
    """The walk sees every public function (a new one is checked without being listed here)."""
    assert {"iterate", "integrate", "sde", "order", "order_study", "sweep", "ensemble", "run_experiment", "plot",
            "explore", "euler_step", "stability_threshold", "flow", "sharpness", "compare", "average",
            "landscape_from"} <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_signature_follows_the_convention(name):
    params = list(inspect.signature(PUBLIC[name]).parameters.values())
    if name == "Explorer":
        params = params[1:]  # self
    names = [p.name for p in params]
    assert not OLD_NAMES & set(names), f"{name} still names {OLD_NAMES & set(names)}"
    for p in params:  # everything may be passed by keyword
        assert p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.VAR_KEYWORD), (name, p.name, p.kind)
    at = 0
    if "landscape" in names:
        assert names[0] == "landscape", f"{name}: the landscape comes first, got {names}"
        at = 1
    runs = [n for n in ("optimizer", "optimizers") if n in names]
    assert len(runs) <= 1, name
    if runs:
        assert names[at] == runs[0], f"{name}: the optimizer(s) come right after the landscape, got {names}"
        if "start" in names:
            assert names.index("start") > at, f"{name}: start comes after the optimizer(s), got {names}"


def _one_old_spelling(record, new_words):
    """Exactly one deprecation warning, at this file's line, naming the new spelling."""
    old = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(old) == 1, [str(w.message) for w in old]
    assert issubclass(old[0].category, OldSpelling)
    assert old[0].filename == __file__, old[0].filename
    for word in new_words:
        assert word in str(old[0].message), (word, str(old[0].message))


def _same(a, b):
    """Results equal bit for bit: every array they export (or the record's own arrays)."""
    if hasattr(a, "arrays"):
        a, b = a.arrays(), b.arrays()
    elif hasattr(a, "experiment"):  # a PlotResult
        import matplotlib.pyplot as plt

        plt.close(a.figure), plt.close(b.figure)
        a, b = a.experiment.arrays(), b.experiment.arrays()
    elif hasattr(a, "to_arrays"):
        a, b = a.to_arrays(), b.to_arrays()
    elif hasattr(a, "results"):
        a, b = a.arrays(), b.arrays()
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    elif hasattr(a, "field"):  # a Flow
        assert a.description == b.description and a.optimizer is b.optimizer
    else:
        np.testing.assert_array_equal(a, b)


GD = "gd(lr=0.1)"
ORDER = dict(horizon=0.2, rungs=2)
#: name -> (the new call, the old calls with the words their warning must name).
CASES = {
    "iterate": (lambda: sim.iterate("booth", GD, start=XY, steps=3), [
        (lambda: sim.iterate(GD, "booth", XY, 3), ["iterate(landscape, optimizer"]),
        (lambda: sim.iterate("booth", GD, x0=XY, steps=3), ["start="]),
        (lambda: sim.iterate(opt=GD, landscape="booth", x0=XY, steps=3), ["optimizer=", "start="]),
        (lambda: sim.iterate(sim.optimizer(GD), landscape="booth", x0=XY, steps=3),
         ["iterate(landscape, optimizer", "start="]),
    ]),
    "integrate": (lambda: sim.integrate("booth", GD, XY, [0.0, 0.1]), [
        (lambda: sim.integrate(GD, "booth", XY, [0.0, 0.1]), ["integrate(landscape, optimizer"]),
        (lambda: sim.integrate("booth", GD, x0=XY, t=[0.0, 0.1]), ["start="]),
    ]),
    "sde": (lambda: sim.sde("booth", GD, XY, 3, noise=0.1, substeps=1), [
        (lambda: sim.sde(GD, "booth", XY, 3, noise=0.1, substeps=1), ["sde(landscape, optimizer"]),
        (lambda: sim.sde("booth", opt=GD, x0=XY, steps=3, noise=0.1, substeps=1), ["optimizer=", "start="]),
    ]),
    "order": (lambda: sim.order("booth", GD, XY, **ORDER), [
        (lambda: sim.order(GD, "booth", XY, **ORDER), ["order(landscape, optimizer"]),
        (lambda: sim.order(GD, landscape="booth", x0=XY, **ORDER), ["order(landscape, optimizer", "start="]),
    ]),
    "sweep": (lambda: sim.sweep("booth", ["gd", "momentum"], "lr=0.01,0.02", start=XY, steps=3), [
        (lambda: sim.sweep(["gd", "momentum"], "booth", "lr=0.01,0.02", start=XY, steps=3),
         ["sweep(landscape, optimizers"]),
        (lambda: sim.sweep(["gd", "momentum"], "booth", "lr=0.01,0.02", x0=XY, steps=3),
         ["sweep(landscape, optimizers", "start="]),
    ]),
    "tune": (lambda: sim.tune("booth", ["gd"], XY, budget=3, grid={"lr": [0.01, 0.02]}, runs=False), [
        (lambda: sim.tune("booth", ["gd"], x0=XY, budget=3, grid={"lr": [0.01, 0.02]}, runs=False), ["start="]),
    ]),
    "order_study": (lambda: sim.order_study("booth", [GD], start=XY, **ORDER), [
        (lambda: sim.order_study("booth", [GD], x0=XY, **ORDER), ["start="]),
    ]),
    "ensemble": (lambda: sim.ensemble("booth", ["gd"], XY, 3, noise=0.1, paths=2), [
        (lambda: sim.ensemble("booth", ["gd"], x0=XY, steps=3, noise=0.1, paths=2), ["start="]),
    ]),
    "run_experiment": (lambda: sim.run_experiment("booth", ["gd"], XY, 3), [
        (lambda: sim.run_experiment("booth", ["gd"], x0=XY, steps=3), ["start="]),
    ]),
    "plot": (lambda: sim.plot("booth", ["gd"], XY, 3), [
        (lambda: sim.plot("booth", ["gd"], x0=XY, steps=3), ["start="]),
    ]),
    "stability_threshold": (lambda: sim.stability_threshold(sim.optimizer(GD)), [
        (lambda: sim.stability_threshold(opt=sim.optimizer(GD)), ["optimizer="]),
    ]),
}


def _euler_case():
    land, opt = sim.landscape("booth"), sim.optimizer("momentum(lr=0.1)")
    state = opt.flow_init(np.array(XY), land)
    return (lambda: sim.euler_step(land, opt, state, 1), [
        (lambda: sim.euler_step(opt, state, land, 1), ["euler_step(landscape, optimizer, state"]),
        (lambda: sim.euler_step(land, opt=opt, state=state, k=1), ["optimizer="]),
    ])


def _flow_case():
    opt = sim.optimizer(GD)
    return (lambda: sim.flow(opt, "modified"), [(lambda: sim.flow(opt=opt, kind="modified"), ["optimizer="])])


CASES["euler_step"] = _euler_case()
CASES["flow"] = _flow_case()


@pytest.mark.parametrize("name", sorted(CASES))
def test_old_spellings_give_the_same_result_with_one_warning_at_the_callers_line(name):
    new, olds = CASES[name]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        expected = new()
    assert not [w for w in record if issubclass(w.category, DeprecationWarning)]
    for old, words in olds:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            got = old()
        _one_old_spelling(record, words)
        _same(expected, got)


def test_every_function_with_an_old_spelling_is_exercised():
    """Every function that accepts old spellings (wrapped by simulate._signature.public) has a case
    above; and every function that takes a landscape and an optimizer or a start is so wrapped."""
    import simulate._signature as signature

    wrapped = {name for name, f in PUBLIC.items() if f.__code__.co_filename == signature.__file__}
    assert wrapped - {"explore", "Explorer"} == set(CASES)  # the explorer opens a window; Explorer: below
    takes = {name for name, f in PUBLIC.items()
             if {"optimizer", "optimizers", "start"} & set(inspect.signature(f).parameters)}
    assert takes - {"landscape_from"} == wrapped  # landscape_from has always said start=


def test_explorer_takes_start_and_still_x0():
    import matplotlib.pyplot as plt

    new = sim.Explorer("himmelblau", ["gd(lr=0.01)"], start=[1.0, 2.0], steps=5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        old = sim.Explorer("himmelblau", ["gd(lr=0.01)"], x0=[1.0, 2.0], steps=5)
    _one_old_spelling(record, ["Explorer", "start="])
    np.testing.assert_array_equal(new.x0, old.x0)
    np.testing.assert_array_equal(new.x0, [1.0, 2.0])
    plt.close(new.figure), plt.close(old.figure)


def test_both_spellings_at_once_are_refused():
    with pytest.raises(TypeError, match="start= and its old spelling x0="):
        sim.iterate("booth", GD, start=XY, x0=XY)
    with pytest.raises(TypeError, match="multiple values for argument 'landscape'"):
        sim.iterate(GD, "booth", landscape="booth")


def test_a_landscape_spec_is_never_read_as_the_old_order():
    """Text in the landscape's place that parses as a landscape (a formula too) is the landscape,
    even where it would parse as an optimizer's spec."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = sim.iterate("x**2 + y**2", GD, XY, 2)
    np.testing.assert_allclose(run.x[-1], np.array(XY) * 0.8 ** 2, rtol=1e-15)


def test_order_result_attributes_are_the_json_names(tmp_path):
    from simulate.io.files import save_json

    result = sim.order("booth", GD, XY, **ORDER)
    path = save_json(tmp_path / "order.json", result.summary())
    data = json.loads(path.read_text())
    assert data["observed_order"] == result.observed_order
    assert data["observed_order_in_lr"] == result.observed_order_in_lr
    assert data["last_pair_order"] == result.last_pair_order or np.isnan(result.last_pair_order)
    assert data["start"] == list(result.start) == list(XY) and "x0" not in data  # the start is start everywhere
    arrays = result.arrays()
    assert float(arrays["observed_order"]) == result.observed_order
    assert float(arrays["observed_order_in_lr"]) == result.observed_order_in_lr
    for old, new in (("order", "observed_order"), ("order_lr", "observed_order_in_lr"),
                     ("last_slope", "last_pair_order"), ("x0", "start")):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            value = getattr(result, old)
        _one_old_spelling(record, [new])
        assert np.array_equal(value, getattr(result, new), equal_nan=True)


def test_a_warning_inside_a_checked_function_points_at_the_caller():
    """An OrderWarning raised in order() (wrapped by @public and @checked) is at this line, not in
    the decorators' files."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        sim.order("himmelblau", "gd(lr=0.01)", flow="modified2", rtol=1e-6, atol=1e-8, rungs=3)
    from simulate.analysis.order import OrderWarning

    found = [w for w in record if issubclass(w.category, OrderWarning)]
    assert found and all(w.filename == __file__ for w in found)


def test_experiment_and_ensemble_name_their_start_as_their_files(tmp_path):
    """``start`` in Python, in the npz and (per member) in the JSON; ``x0`` still reads, with a warning;
    a file written before the rename (key ``x0``) still loads."""
    from simulate.analysis.experiment import Experiment
    from simulate.io.files import save_npz

    starts = [[1.0, 1.0], [0.5, -0.5]]
    experiment = sim.run_experiment("booth", ["gd"], starts, 3)
    ens = sim.ensemble("booth", ["gd"], XY, 3, noise=0.1, paths=2)
    np.testing.assert_array_equal(experiment.arrays()["start"], starts)
    np.testing.assert_array_equal(experiment.summary()["optimizers"][0]["members"][1]["start"], starts[1])
    np.testing.assert_array_equal(ens.arrays()["start"], XY)
    for result in (experiment, ens):
        assert "x0" not in result.arrays()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            old = result.x0
        _one_old_spelling(record, ["start"])
        assert old is result.start
    arrays = experiment.arrays()
    arrays["x0"] = arrays.pop("start")
    loaded = Experiment.load(save_npz(tmp_path / "old.npz", arrays))
    np.testing.assert_array_equal(loaded.start, starts)
    _same(loaded, experiment)
