"""Built-in landscapes: derivatives against finite differences, minima, shapes, errors.

Table-driven over ``LANDSCAPES``: registering a landscape puts it under every generic test.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import central_difference

from simulate.landscapes import LANDSCAPES, Landscape, Quadratic, landscape

_ROTATION_3D = np.linalg.qr(np.random.default_rng(7).standard_normal((3, 3)))[0]

# (id, registry name, parameters): every default plus non-default variants.
CASES = [(name, name, {}) for name in LANDSCAPES] + [
    ("quadratic-3d-rotated", "quadratic", dict(eigenvalues=[0.5, 3.0, 40.0], rotation=_ROTATION_3D,
                                                center=[0.3, -1.0, 2.0])),
    ("quadratic-2d-angle", "quadratic", dict(condition=100.0, angle=0.6)),
    ("quadratic-indefinite", "quadratic", dict(eigenvalues=[2.0, -1.0])),
    ("rosenbrock-b10", "rosenbrock", dict(b=10.0)),
    ("rosenbrock-a2", "rosenbrock", dict(a=2.0)),
    ("rosenbrock-5d", "rosenbrock", dict(dim=5)),
    ("rastrigin-3d", "rastrigin", dict(dim=3)),
    ("rastrigin-A2", "rastrigin", dict(A=2.0)),
    ("styblinski-tang-3d", "styblinski-tang", dict(dim=3)),
    ("double-well-tilt-1d", "double-well", dict(tilt=0.3, dim=1)),
    ("double-well-steep-3d", "double-well", dict(tilt=-2.0, stiffness=5.0, dim=3)),
]


def make(case) -> Landscape:
    _, name, params = case
    return landscape(name, **params)


def case_params(cases=CASES):
    return [pytest.param(c, id=c[0]) for c in cases]


def sample(land: Landscape, n: int = 50, seed: int = 0) -> np.ndarray:
    lo, hi = land.bounds[:, 0], land.bounds[:, 1]
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, land.dim))



def derivative_error(land: Landscape, x: np.ndarray, h: float = 1e-6) -> tuple[float, float]:
    """Worst ratio |exact − FD| / tolerance for grad and for Hessian (≤ 1 passes).

    Tolerance: rtol 1e-6 of max(1, |exact|) plus the rounding error of the difference quotient,
    ~eps·|f|/h ≈ 2e-10·|f| (taken as 1e-9·|f|), which matters where |f| ≫ |∇f| (Beale's corners).
    """
    f, g, H = land.value(x), land.grad(x), land.hess(x)
    g_fd = central_difference(land.value, x, h)
    H_fd = central_difference(land.grad, x, h)
    tol_g = 1e-6 * np.maximum(1, np.abs(g)) + 1e-9 * np.abs(f)[:, None]
    tol_H = 1e-6 * np.maximum(1, np.abs(H)) + 1e-9 * np.abs(g).max(axis=-1)[:, None, None]
    return float(np.max(np.abs(g - g_fd) / tol_g)), float(np.max(np.abs(H - H_fd) / tol_H))


# -- 1. derivatives ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", case_params())
def test_derivatives_match_finite_differences(case):
    land = make(case)
    x = sample(land)
    err_g, err_H = derivative_error(land, x)
    assert err_g <= 1, f"gradient off by {err_g:.3g}× the tolerance"
    assert err_H <= 1, f"Hessian off by {err_H:.3g}× the tolerance"


def test_derivative_check_catches_a_wrong_gradient():
    """The check above is not vacuous: a 1e-4 relative error in the gradient is caught."""

    class Wrong(type(landscape("booth"))):
        def _grad(self, x):
            return super()._grad(x) * (1 + 1e-4)

    assert derivative_error(Wrong(), sample(Wrong()))[0] > 1


# -- 2. minima -----------------------------------------------------------------------------------
GLOBAL_VALUE = {  # registry name -> f at a global minimum, as a function of d
    "quadratic": lambda d: 0.0,
    "rosenbrock": lambda d: 0.0,
    "himmelblau": lambda d: 0.0,
    "beale": lambda d: 0.0,
    "booth": lambda d: 0.0,
    "rastrigin": lambda d: 0.0,
    "scalar-net": lambda d: 0.0,
    "six-hump-camel": lambda d: -1.0316284535,
    "styblinski-tang": lambda d: -39.16616570377142 * d,
    "double-well": lambda d: 0.0,
}


def scale_at(land: Landscape, x: np.ndarray) -> float:
    """Rounding scale of ∇f near x: max(1, ‖∇²f‖) · max(1, |x|)."""
    return max(1.0, float(np.abs(land.hess(x)).max())) * max(1.0, float(np.abs(x).max()))


@pytest.mark.parametrize("case", case_params())
def test_minima_are_stationary_with_psd_hessian(case):
    land = make(case)
    assert land.minima.ndim == 2 and land.minima.shape[1] == land.dim
    for m in land.minima:
        s = scale_at(land, m)
        assert np.linalg.norm(land.grad(m)) <= 1e-8 * s, f"{m} is not stationary"
        assert np.linalg.eigvalsh(land.hess(m))[0] >= -1e-8 * s, f"{m} has a negative curvature"


@pytest.mark.parametrize("case", case_params())
def test_minima_are_distinct_local_minima(case):
    land = make(case)
    m = land.minima
    if len(m) > 1:
        dist = np.linalg.norm(m[:, None] - m[None], axis=-1) + np.eye(len(m))
        assert dist.min() > 1e-6, "a minimum is listed twice"
    rng = np.random.default_rng(1)
    for p in m[:: max(1, len(m) // 20)]:  # at most ~20 of them
        nearby = p + 1e-3 * rng.standard_normal((20, land.dim))
        assert np.all(land.value(nearby) >= land.value(p) - 1e-12 * max(1, abs(land.value(p))))


WITH_GLOBAL = [c for c in CASES if c[1] in GLOBAL_VALUE and c[0] != "quadratic-indefinite"]


@pytest.mark.parametrize("case", case_params(WITH_GLOBAL))
def test_global_minimum_value(case):
    land = make(case)
    expected = GLOBAL_VALUE[case[1]](land.dim)
    if case[1] == "double-well":  # tilted: f at the lower well, a root of 4x³ − 4x + tilt
        x = land.minima[:, 0]
        expected = float(np.min((x**2 - 1) ** 2 + land.tilt * x))
    assert len(land.minima) >= 1
    best = land.value(land.minima).min()
    assert best == pytest.approx(expected, abs=1e-9 * max(1, abs(expected)))
    # No sampled point in the box beats the listed global minimum.
    assert land.value(sample(land, 2000, seed=3)).min() >= best - 1e-9


def test_six_hump_camel_minima():
    land = landscape("six-hump-camel")
    known = {  # value -> point (and its negative)
        -1.0316284534898774: (0.0898420131, -0.7126564033),
        -0.2154638243837182: (1.7036067200, -0.7960835658),
        2.1042503103112598: (1.6071047529, 0.5686514549),
    }
    assert len(land.minima) == 6
    for value, p in known.items():
        for q in (np.array(p), -np.array(p)):
            i = np.argmin(np.linalg.norm(land.minima - q, axis=1))
            assert np.allclose(land.minima[i], q, atol=1e-9)
            assert land.value(land.minima[i]) == pytest.approx(value, abs=1e-12)
            assert np.linalg.eigvalsh(land.hess(land.minima[i]))[0] > 1  # strict minimum


def test_himmelblau_minima():
    land = landscape("himmelblau")
    known = [(3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    assert land.minima.shape == (4, 2)
    for q in known:
        assert np.min(np.linalg.norm(land.minima - q, axis=1)) < 2e-6
    assert np.all(np.abs(land.value(land.minima)) < 1e-25)


@pytest.mark.parametrize("dim, count", [(1, 2), (2, 4), (3, 8)])
def test_styblinski_tang_minima(dim, count):
    land = landscape("styblinski-tang", dim=dim)
    assert land.minima.shape == (count, dim)
    per = np.unique(np.round(land.minima, 12))
    assert per == pytest.approx([-2.903534027771178, 2.746802770990837], abs=1e-12)
    x = land.minima
    assert np.all(np.abs(4 * x**3 - 32 * x + 5) < 1e-12)


def test_rastrigin_minima_near_integers():
    land = landscape("rastrigin")
    assert land.minima.shape == (121, 2)
    assert np.all(np.abs(land.minima - np.round(land.minima)) < 0.03)
    assert set(np.round(land.minima[:, 0]).astype(int)) == set(range(-5, 6))
    assert landscape("rastrigin", dim=6).minima.shape == (1, 6)  # 11^6 > MAX_LISTED_MINIMA: origin only


@pytest.mark.parametrize("tilt, wells", [(0.0, [-1.0, 1.0]), (0.3, None), (1.5, None), (2.0, None), (-2.0, None)])
def test_double_well_minima(tilt, wells):
    land = landscape("double-well", tilt=tilt, dim=1)
    x = land.minima[:, 0]
    expected_count = 2 if abs(tilt) < 8 / (3 * np.sqrt(3)) else 1
    assert len(x) == expected_count
    assert np.all(np.abs(4 * x**3 - 4 * x + tilt) < 1e-13) and np.all(12 * x**2 - 4 > 0)
    if wells is not None:
        assert x == pytest.approx(wells, abs=1e-15)


def test_rosenbrock_chained_local_minimum():
    land = landscape("rosenbrock", dim=5)
    assert land.minima.shape == (2, 5)
    assert land.minima[0] == pytest.approx(np.ones(5), abs=0)
    assert land.minima[1][0] == pytest.approx(-0.96205, abs=1e-5)
    assert land.value(land.minima[1]) == pytest.approx(3.930839, abs=1e-6)
    assert landscape("rosenbrock", dim=3).minima.shape == (1, 3)  # only the global one for d = 3


def test_scalar_net_minima_on_curve():
    land = landscape("scalar-net")
    a, b = land.minima.T
    assert np.all(a * b == 1.0)
    # Sharpness at a minimum is a² + b²; the other Hessian eigenvalue is 0.
    ev = np.linalg.eigvalsh(land.hess(land.minima))
    assert ev[:, 1] == pytest.approx(a**2 + b**2) and np.all(np.abs(ev[:, 0]) < 1e-12)


@pytest.mark.parametrize("name", ["saddle", "monkey-saddle"])
def test_saddles_have_no_minima(name):
    land = landscape(name)
    assert land.minima.shape == (0, 2)
    assert np.all(land.grad(np.zeros(2)) == 0)
    assert land.value(sample(land, 500)).min() < land.value(np.zeros(2)) - 0.5  # unbounded below


# -- 3. shapes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", case_params())
def test_shapes_dtype_symmetry(case):
    land = make(case)
    d = land.dim
    rng = np.random.default_rng(2)
    for batch in [(), (4,), (4, 3)]:
        x = rng.uniform(land.bounds[:, 0], land.bounds[:, 1], size=batch + (d,))
        f, g, H = land.value(x), land.grad(x), land.hess(x)
        assert f.shape == batch and g.shape == batch + (d,) and H.shape == batch + (d, d)
        assert f.dtype == g.dtype == H.dtype == np.float64
        assert np.array_equal(H, np.swapaxes(H, -1, -2))
        # A batch equals its points one at a time.
        flat = x.reshape(-1, d)
        assert np.allclose(g.reshape(-1, d), [land.grad(p) for p in flat], rtol=1e-14, atol=0)
    # Integer and list input is accepted and cast.
    assert land.value([1] * d).dtype == np.float64


# -- 4. errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", case_params())
def test_wrong_dimension_raises(case):
    land = make(case)
    d = land.dim
    for bad in (np.zeros(d + 1), np.zeros((3, d + 1)), 1.0):
        for method in (land.value, land.grad, land.hess):
            with pytest.raises(ValueError, match=rf"{d}-dimensional.*\(\.\.\., {d}\)"):
                method(bad)


@pytest.mark.parametrize("typo, right", [("rosenbrok", "rosenbrock"), ("himmelblaw", "himmelblau"),
                                         ("six-hump-camle", "six-hump-camel"), ("styblinski", "styblinski-tang")])
def test_unknown_name_suggests_closest(typo, right):
    with pytest.raises(ValueError, match=f"Did you mean '{right}'"):
        landscape(typo)


def test_names_normalised():
    assert isinstance(landscape("Six_Hump_Camel"), type(landscape("six-hump-camel")))


@pytest.mark.parametrize("name, params, match", [
    ("quadratic", dict(condition=0.5), "condition"),
    ("quadratic", dict(rotation=np.ones((2, 2))), "orthogonal"),
    ("rosenbrock", dict(b=-1.0), "b must"),
    ("rosenbrock", dict(dim=1), "dim must"),
    ("rosenbrock", dict(a=2.0, dim=3), "a = 1"),
    ("rastrigin", dict(dim=0), "dim must"),
    ("rastrigin", dict(dim=2.5), "dim must"),
    ("rastrigin", dict(A=-1.0), "A must"),
    ("styblinski-tang", dict(dim=0), "dim must"),
    ("double-well", dict(stiffness=-1.0), "stiffness must"),
    ("double-well", dict(tilt=float("nan")), "tilt must"),
    ("himmelblau", dict(dim=3), "Parameters: none"),
    ("booth", dict(scale=2.0), "Parameters: none"),
    ("double-well", dict(width=2.0), "Parameters: tilt, stiffness, dim"),
])
def test_bad_parameters_raise(name, params, match):
    with pytest.raises(ValueError, match=match):
        landscape(name, **params)


# -- 5. exact facts, bounds, starts ---------------------------------------------------------------
def test_quadratic_eigenvalues_and_closed_form():
    lam = [0.5, 3.0, 40.0]
    land = landscape("quadratic", eigenvalues=lam, rotation=_ROTATION_3D, center=[0.3, -1.0, 2.0])
    assert np.linalg.eigvalsh(land.A) == pytest.approx(sorted(lam), rel=1e-13)
    assert np.allclose(land.A, land.A.T, rtol=0, atol=0)
    x = sample(land, 5)
    assert land.value(x) == pytest.approx(0.5 * np.sum((x - land.center) @ land.A * (x - land.center), axis=1))
    assert np.linalg.eigvalsh(landscape("quadratic", condition=100, dim=4).A) == pytest.approx(
        [1, 100 ** (1 / 3), 100 ** (2 / 3), 100], rel=1e-12)
    assert np.linalg.eigvalsh(Quadratic(condition=100, angle=0.6).A) == pytest.approx([1, 100], rel=1e-12)
    assert landscape("quadratic", eigenvalues=[2.0, -1.0]).minima.shape == (0, 2)


@pytest.mark.parametrize("case", case_params())
def test_start_and_minima_inside_bounds(case):
    land = make(case)
    lo, hi = land.bounds[:, 0], land.bounds[:, 1]
    assert np.all(lo < hi)
    assert np.all((lo <= land.default_start) & (land.default_start <= hi))
    assert np.all((lo <= land.minima) & (land.minima <= hi))
    # The start is not a stationary point, so a run goes somewhere.
    assert np.linalg.norm(land.grad(land.default_start)) > 1e-3


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_registry_metadata(name):
    land = landscape(name)
    assert land.name == name and name == name.lower() and " " not in name
    assert land.description and "\n" not in land.description
    assert not land.minima.flags.writeable and not land.bounds.flags.writeable
    import simulate.landscapes as mod

    assert type(land).__name__ in mod.__all__ and type(land).__name__ in mod.__doc__


@pytest.mark.parametrize("spec", [*LANDSCAPES, "quadratic(eigenvalues=(1, 20), angle=0.5)", "quadratic(condition=100, dim=3)",
                                  "quadratic(eigenvalues=(1, 2, 3), center=(1, 0, 0.1))", "rosenbrock(b=10)",
                                  "double-well(tilt=0.3, dim=1)", "rastrigin(dim=3, A=2)"])
def test_label_is_a_spec_that_rebuilds_the_landscape(spec, rng):
    land = landscape(spec)
    again = landscape(land.label)
    x = rng.uniform(land.bounds[:, 0], land.bounds[:, 1], size=(20, land.dim))
    np.testing.assert_array_equal(again.value(x), land.value(x))
    np.testing.assert_array_equal(again.hess(x), land.hess(x))


def test_dimension_is_capped_with_a_clear_error():
    for spec in ("quadratic(dim=100000)", "rastrigin(dim=5000)"):
        with pytest.raises(ValueError, match="dim must be at most 1000"):
            landscape(spec)
    with pytest.raises(ValueError, match="dim must be at most 1000"):
        landscape("quadratic", eigenvalues=np.arange(1.0, 1200.0))
