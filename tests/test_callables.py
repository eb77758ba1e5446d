"""Landscapes from user callables: shapes checked at once, the Hessian by differences when not given."""

import numpy as np
import pytest

import simulate as sim
from simulate.landscapes.callables import landscape_from

A = np.array([[3.0, 1.0], [1.0, 2.0]])


def quadratic():
    return landscape_from(lambda x: 0.5 * np.einsum("...i,ij,...j->...", x, A, x), lambda x: x @ A,
                          name="my quadratic", bounds=((-2, 2), (-2, 2)), minima=((0, 0),))


def test_a_callable_landscape_runs_like_a_builtin_and_its_hessian_is_the_difference_of_its_gradient():
    land = quadratic()
    X = np.random.default_rng(0).normal(size=(4, 3, 2))
    assert land.hess(X).shape == (4, 3, 2, 2)
    np.testing.assert_allclose(land.hess(X), np.broadcast_to(A, (4, 3, 2, 2)), atol=1e-8)
    run = sim.iterate(land, "gd(lr=0.1)", np.array([1.0, -1.0]), 300)
    np.testing.assert_allclose(run.final, 0.0, atol=1e-12)
    flow = sim.integrate(land, "gd(lr=0.1)", np.array([1.0, -1.0]), t=[0.0, 1.0])
    exact = np.linalg.eigh(A)
    np.testing.assert_allclose(flow.x[-1], exact[1] @ (np.exp(-exact[0]) * (exact[1].T @ [1.0, -1.0])), rtol=1e-6)
    assert land.label == "my quadratic" and land.minima.tolist() == [[0.0, 0.0]]


def test_a_given_hessian_is_used_and_point_functions_need_saying_so():
    land = landscape_from(lambda x: np.sum(x**4, axis=-1), lambda x: 4 * x**3,
                          lambda x: np.einsum("...i,ij->...ij", 12 * x**2, np.eye(2)))
    np.testing.assert_array_equal(land.hess(np.array([1.0, 2.0])), [[12.0, 0.0], [0.0, 48.0]])
    with pytest.raises(ValueError, match="vectorized=False"):
        landscape_from(lambda p: float(p @ p), lambda p: 2 * p)
    with pytest.raises(ValueError, match="vectorized=False"):  # x[0], x[1]: rows of a batch, not coordinates
        landscape_from(lambda x: x[0] ** 2 + 10 * x[1] ** 2, lambda x: np.array([2 * x[0], 20 * x[1]]))
    point = landscape_from(lambda p: float(p @ p), lambda p: 2 * p, vectorized=False)
    X = np.random.default_rng(1).normal(size=(5, 2))
    np.testing.assert_allclose(point.value(X), np.sum(X**2, axis=-1))
    np.testing.assert_allclose(point.hess(X), np.broadcast_to(2 * np.eye(2), (5, 2, 2)), atol=1e-8)
    with pytest.raises(ValueError, match=r"grad\(x\) for x of shape \(3, 2\) returned shape \(3, 3\), expected \(3, 2\)$"):
        landscape_from(lambda x: np.sum(x, axis=-1), lambda x: np.ones(x.shape[:-1] + (3,)))
