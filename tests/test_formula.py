"""Formula landscapes: refused unless whitelisted, exact derivatives equal to the built-ins'."""

import builtins
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import simulate as sim
from simulate.landscapes.formula import MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, MAX_NODES, FormulaError, FormulaLandscape

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("attack, why", [
    ("__import__('os').system('touch PWNED')", "only the functions"),
    ("().__class__.__bases__[0].__subclasses__()", "only the functions"),
    ("x.real", "attribute access"),
    ("x[0]", "indexing"),
    ("(lambda: 1)()", "only the functions"),
    ("[x for x in (1, 2)]", "comprehensions"),
    ("{x for x in y}", "not allowed"),
    ("open('PWNED', 'w')", "unknown function 'open'"),
    ("exec('x')", "unknown function 'exec'"),
    ("'x' + 'y'", "only numbers"),
    ("x if y else 1", "if-expressions"),
    ("x or y", "and/or"),
    ("x == y", "comparisons"),
    ("x := 1", "not a formula"),
    ("x; import os", "not a formula"),
    ("x" + "+x" * 1000, f"the limit is {MAX_LENGTH}"),
    ("+".join(["x*y"] * 120), f"the limit is {MAX_NODES}"),
    ("sin(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5), f"nested more than {MAX_DEPTH}"),
    ("(" * 300 + "x" + ")" * 300, "nested"),
    ("x**1e9", f"±{MAX_EXPONENT}"),
    ("x**(10**6)", f"±{MAX_EXPONENT}"),
    ("9**9**9", f"±{MAX_EXPONENT}"),
    ("x + w", "unknown name 'w'"),
    ("sinn(x)", "did you mean 'sin'"),
    ("sin(x, y)", "exactly one argument"),
    ("sin(x=1)", "exactly one argument"),
    ("x1 + y", "not both"),
    ("x99", "at most 20 variables"),
    ("1/0 + x", "division by zero"),
    ("((((99**99)**99)**99)**99)", "out of range (about 10^19559)"),  # refused before sympy builds it
    ("x**sin(((2**100)**100)**100)", "out of range"),
    ("2*((2**100)**100)**100", "out of range"),
    ("1" + "0" * 400 + "*x", "more than 300 digits"),
    ("abs(log(x)) + y**2", "abs() of an expression"),  # its derivative has no numpy counterpart
    ("abs(x**y)", "abs() of an expression"),
    ("", "empty"),
])
def test_attacks_and_abuse_are_refused_with_a_reason_and_nothing_runs(attack, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormulaError, match=re.escape(why)):
        FormulaLandscape(attack)
    assert list(tmp_path.iterdir()) == []


def test_user_text_never_reaches_eval_exec_or_sympify(monkeypatch):
    import sympy
    import sympy.parsing.sympy_parser as parser

    text = "sin(x)*cos(y) + 0.1*(x**2 + y**2) + abs(x) + sqrt(y) + tanh(x) + log(2 + y) + x**y + e**x - pi"
    FormulaLandscape(text)  # once before: sympy imports modules lazily, and imports run exec

    def refuse(*args, **kwargs):
        raise AssertionError("called on the formula's way through")

    for owner, name in ((builtins, "eval"), (builtins, "exec"), (sympy, "sympify"), (parser, "parse_expr")):
        monkeypatch.setattr(owner, name, refuse)
    land = FormulaLandscape(text)
    assert land.value(np.array([1.0, 2.0])) == pytest.approx(
        np.sin(1) * np.cos(2) + 0.5 + 1 + np.sqrt(2) + np.tanh(1) + np.log(4) + 1 + np.e - np.pi)


@pytest.mark.parametrize("formula, builtin", [
    ("(1-x)**2 + 100*(y-x**2)**2", "rosenbrock"),
    ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", "himmelblau"),
    ("(x + 2*y - 7)**2 + (2*x + y - 5)**2", "booth"),
    ("(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2", "beale"),
    ("(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2", "six-hump-camel"),
    ("x**2 - y**2", "saddle"),
    ("20 + x**2 - 10*cos(2*pi*x) + y**2 - 10*cos(2*pi*y)", "rastrigin"),
])
def test_derivatives_equal_those_of_the_builtin_landscape_they_spell(formula, builtin):
    f, ref = FormulaLandscape(formula), sim.landscape(builtin)
    X = ref.sample(200, seed=1)
    scale = 1 + np.abs(ref.value(X))
    np.testing.assert_allclose(f.value(X), ref.value(X), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(f.grad(X), ref.grad(X), rtol=1e-12, atol=1e-10 * scale.max())
    np.testing.assert_allclose(f.hess(X), ref.hess(X), rtol=1e-12, atol=1e-10 * scale.max())


def test_n_dimensional_formulas_and_their_shapes():
    f = FormulaLandscape("x1**2 + 2*x2**2 + 3*x3**2 + x1*x3")
    assert f.dim == 3 and f.variables == ("x1", "x2", "x3")
    X = RNG.normal(size=(4, 5, 3))
    assert f.value(X).shape == (4, 5) and f.grad(X).shape == (4, 5, 3) and f.hess(X).shape == (4, 5, 3, 3)
    A = np.array([[2.0, 0, 1], [0, 4, 0], [1, 0, 6]])
    np.testing.assert_allclose(f.grad(X), X @ A, rtol=1e-14)
    np.testing.assert_array_equal(f.hess(X), np.broadcast_to(A, (4, 5, 3, 3)))
    assert FormulaLandscape("y**2").dim == 2 and FormulaLandscape("x**2").dim == 1  # y is the second coordinate


def _fd_check(land, X, h=1e-6):
    g, H = land.grad(X), land.hess(X)
    for i in range(land.dim):
        e = np.zeros(land.dim)
        e[i] = h
        fd_g = (land.value(X + e) - land.value(X - e)) / (2 * h)
        fd_H = (land.grad(X + e) - land.grad(X - e)) / (2 * h)
        np.testing.assert_allclose(g[..., i], fd_g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(H[..., :, i], fd_H, rtol=1e-5, atol=1e-6)


def test_every_function_differentiates_to_finite_differences():
    f = FormulaLandscape("sin(x)*cos(y) + exp(-x**2) + log(1 + y**2) + sqrt(2 + x**2) + tanh(x*y) + tan(0.3*x)"
                         " + abs(x - 7) + e**(0.1*y) + pi*x/3")
    _fd_check(f, RNG.uniform(-1.5, 1.5, size=(50, 2)))


def test_bounds_start_and_minima_and_the_label_that_rebuilds_them():
    f = FormulaLandscape("x**2 + 10*y**2")
    assert f.label == "x**2 + 10*y**2" and f.bounds.tolist() == [[-5, 5], [-5, 5]]
    assert f.minima.tolist() == [[0.0, 0.0]]  # searched for: the label stays the formula alone
    g = FormulaLandscape("(x-1)**2 + y**2", bounds=((-1, 3), (-2, 2)), start=(2.5, 1.0), minima=((1, 0),))
    assert g.default_start.tolist() == [2.5, 1.0] and g.minima.tolist() == [[1.0, 0.0]]
    assert g.label.startswith("formula(") and "bounds" in g.label
    with pytest.raises(FormulaError, match="low < high"):
        FormulaLandscape("x**2", bounds=((1, -1),))
    run = sim.iterate(g, "gd(lr=0.05)", steps=300)
    np.testing.assert_allclose(run.final, [1.0, 0.0], atol=1e-10)  # runs like any landscape


# -- generated formulas: parsed into a landscape whose gradient matches finite differences, or refused --------
_atoms = st.sampled_from(["x", "y", "2", "0.5", "3", "pi", "e", "1.5"])


def _formulas():
    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(["2", "3", "-1", "0.5"])).map(lambda t: f"({t[0]})**{t[1]}"),
            st.tuples(st.sampled_from(["sin", "cos", "exp", "tanh", "log", "sqrt", "abs"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"),
            inner.map(lambda s: f"-{s}"))
    return st.recursive(_atoms, extend, max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(_formulas(), st.text(max_size=12))
def test_generated_formulas_parse_and_differentiate_or_are_refused_cleanly(formula, noise):
    for text in (formula, formula + noise):  # grammatical, then likely not
        try:
            land = FormulaLandscape(text)
        except FormulaError:
            continue
        X = np.random.default_rng(2).uniform(0.3, 1.7, size=(20, land.dim))  # away from the usual poles
        g = land.grad(X)
        h = 1e-6
        for i in range(land.dim):
            e = np.zeros(land.dim)
            e[i] = h
            with np.errstate(all="ignore"):  # a pole between the two points: inf − inf
                fd = (land.value(X + e) - land.value(X - e)) / (2 * h)
            ok = np.isfinite(fd) & np.isfinite(g[..., i]) & (np.abs(fd) < 1e6)
            # the difference quotient's own rounding, ~eps·|f|/h, grows with f (x + exp(exp(3)) is 5e8)
            with np.errstate(all="ignore"):
                rounding = 4e-16 * np.abs(land.value(X)) / h
            assert np.all(np.abs(g[..., i] - fd)[ok] <= (1e-4 * np.abs(fd) + 1e-5 + rounding)[ok]), text


# -- anywhere a landscape name is accepted ------------------------------------------------------------
def test_landscape_lookup_takes_formulas_and_still_suggests_names():
    from simulate._names import UnknownNameError

    assert isinstance(sim.landscape("x**2 + 10*y**2"), FormulaLandscape)
    assert isinstance(sim.landscape("sin(x)*cos(y)"), FormulaLandscape)  # a call, not a spec
    assert type(sim.landscape("rosenbrock")).__name__ == "Rosenbrock"
    assert sim.landscape("quadratic(condition=10)").name == "quadratic"
    for typo in ("rosenbrok", "rosenbrok(a=2)"):
        with pytest.raises(UnknownNameError, match="Did you mean 'rosenbrock'"):
            sim.landscape(typo)
    spec = 'formula("(x-1)**2 + y**2", bounds=((-1, 3), (-2, 2)), start=(2.5, 1.0), minima=((1, 0),))'
    land = sim.landscape(spec)
    again = sim.landscape(land.label)
    assert again.label == land.label and again.bounds.tolist() == [[-1, 3], [-2, 2]]
    assert again.minima.tolist() == [[1.0, 0.0]] and again.default_start.tolist() == [2.5, 1.0]
    with pytest.raises(FormulaError, match="quoted string"):
        sim.landscape("formula(x**2)")


def test_command_line_runs_formulas_reproducibly_and_refuses_attacks(tmp_path, capsys, monkeypatch):
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "-l", "x**2 + 10*y**2", "--start", "4,1", "--out", "f.png", "--data", "f.npz"]) == 0
    assert main(["rerun", "f.run.toml", "--out-dir", "again"]) == 0
    assert (tmp_path / "f.npz").read_bytes() == (tmp_path / "again" / "f.npz").read_bytes()
    assert main(["sweep", "-l", "(x**2 - 1)**2 + y**2", "-o", "gd(lr=0.05)", "--vary", "x=-2:2:9", "--vary",
                 "y=-1:1:3", "--steps", "200", "--out", "s.png", "--data", "s.npz"]) == 0
    assert np.load(tmp_path / "s.npz")["final_loss"].shape == (1, 9, 3)
    capsys.readouterr()
    assert main(["plot", "-l", "__import__('os').system('touch PWNED')", "--out", "x.png"]) == 2
    assert "only the functions" in capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "x.png").exists()


def test_long_sums_are_not_nesting_and_large_hessians_are_differenced_from_the_exact_gradient(monkeypatch):
    import simulate.landscapes.formula as formula

    assert FormulaLandscape("+".join(["x"] * 60)).value(np.array([1.0])) == 60.0
    text = "sin(x)*exp(y) + x**3*y**2"
    exact = FormulaLandscape(text)
    monkeypatch.setattr(formula, "HESSIAN_BUDGET", 0)
    differenced = FormulaLandscape(text)
    assert exact._hess_of is not None and differenced._hess_of is None
    X = RNG.uniform(-1, 1, size=(20, 2))
    np.testing.assert_array_equal(differenced.grad(X), exact.grad(X))
    np.testing.assert_allclose(differenced.hess(X), exact.hess(X), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("text, minima", [
    ("(x**2-1)**2 + y**2/2", [[-1, 0], [1, 0]]),
    ("x**4/4 - x**2/2", [[-1], [1]]),
    ("x - log(x)", [[1]]),          # NaN for x <= 0 in the box: those points drop out
    ("x + y", []),                  # no minimum
    ("x**2*y**2", []),              # minima on the axes, all degenerate: none is claimed
    ("x1**2 + x2**2 + x3**2", []),  # beyond 2-D nothing is searched
])
def test_minima_of_low_dimensional_formulas_are_searched_and_verified(text, minima):
    land = sim.landscape(text)
    np.testing.assert_allclose(land.minima, np.reshape(minima, (-1, land.dim)), atol=1e-12)
    for m in land.minima:
        assert np.linalg.norm(land.grad(m)) < 1e-10 and np.all(np.linalg.eigvalsh(land.hess(m)) > 0)


@pytest.mark.parametrize("name", ["himmelblau", "six-hump-camel", "double-well", "beale", "styblinski-tang"])
def test_the_search_finds_the_built_ins_listed_minima(name):
    from simulate.landscapes import search_minima

    land = sim.landscape(name)
    found = search_minima(land)
    assert len(found) == len(land.minima)
    for m in land.minima:
        assert np.min(np.linalg.norm(found - m, axis=-1)) < 1e-10


def test_a_formula_defined_on_part_of_its_box_is_drawn_where_it_is_finite():
    # log x is undefined for x <= 0, half of the default box: contours there are masked, not a crash
    from simulate.viz.plotting import plot_landscape

    land = sim.landscape("log(x) + y**2")
    ax = plot_landscape(land)
    filled = ax.collections[0]
    assert filled.levels.size > 2 and np.all(np.isfinite(filled.levels))
    result = sim.plot(land, ["gd(lr=0.01)"], start=[1.0, 0.5], steps=20)
    assert np.all(np.isfinite(result.experiment.entries[0].iterates.x))
    with pytest.raises(ValueError, match="not finite anywhere in the box drawn"):
        plot_landscape(land, bounds=[[-3.0, -1.0], [-1.0, 1.0]])
