"""Finite-sum landscapes (least squares, logistic regression): derivatives, per-sample and minibatch
gradients, minima against independent solvers, seeded data, parameters.

The generic checks of every registered landscape (shapes, bounds, labels, minima) are in
test_landscapes.py; these are the finite-sum specifics, against exact oracles.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import central_difference

from simulate.landscapes.finitesum import LeastSquares, Logistic
from simulate.landscapes import LANDSCAPES, landscape

CLASSES = [LeastSquares, Logistic]
BATCHES = [(), (5,), (3, 4)]


def points(land, batch, seed=0):
    lo, hi = land.bounds[:, 0], land.bounds[:, 1]
    return np.random.default_rng(seed).uniform(lo, hi, size=batch + (land.dim,))



def manual_sample_grad(land, x, i):
    """∇f_i(x) for one point and one sample, written out from the formulas."""
    a = land.A[i]
    if isinstance(land, LeastSquares):
        return (a @ x - land.b[i]) * a + land.ridge * x
    m = land.y[i] * (a @ x)
    return -land.y[i] * a / (1 + np.exp(m)) + land.ridge * x


# -- derivatives ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dim", [1, 2, 5])
@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_grad_and_hess_match_finite_differences(cls, dim, batch):
    land = cls(dim=dim, ridge=0.1, seed=dim)
    x = points(land, batch, seed=len(batch))
    f, g, H = land.value(x), land.grad(x), land.hess(x)
    assert f.shape == batch and g.shape == batch + (dim,) and H.shape == batch + (dim, dim)
    # Rounding of the difference quotient is ~eps·|f|/h ≈ 2e-10·|f|; truncation is O(h²).
    g_fd = central_difference(land.value, x)
    assert np.all(np.abs(g - g_fd) <= 1e-7 * (1 + np.abs(g)) + 1e-9 * np.abs(f)[..., None])
    H_fd = central_difference(land.grad, x)
    assert np.all(np.abs(H - H_fd) <= 1e-7 * (1 + np.abs(H)))
    assert np.array_equal(H, np.swapaxes(H, -1, -2))


def test_least_squares_is_its_formula():
    land = LeastSquares(samples=10, dim=3, noise=0.3, ridge=0.2, seed=4)
    x = points(land, (6,))
    r = x @ land.A.T - land.b
    assert land.value(x) == pytest.approx(0.5 * np.mean(r**2, axis=1) + 0.1 * np.sum(x**2, axis=1), rel=1e-13)
    assert land.hess(x) == pytest.approx(np.broadcast_to(land.A.T @ land.A / 10 + 0.2 * np.eye(3), (6, 3, 3)), rel=1e-13)


def test_logistic_is_its_formula_and_stable_for_huge_margins():
    land = Logistic(samples=12, dim=2, ridge=0.0, seed=5)
    x = points(land, (6,))
    m = land.y * (x @ land.A.T)
    assert land.value(x) == pytest.approx(np.mean(np.log1p(np.exp(-m)), axis=1), rel=1e-13)
    # Margins of ±1e4: exp would overflow; the value is the mean hinge-like max(0, −m), the
    # gradient and Hessian stay finite (pytest turns any RuntimeWarning into an error).
    big = 1e4 * np.array([[1.0, 1.0], [-1.0, 0.5]])
    m = land.y * (big @ land.A.T)
    assert land.value(big) == pytest.approx(np.mean(np.maximum(0, -m), axis=1), rel=1e-12)
    assert np.all(np.isfinite(land.grad(big))) and np.all(np.isfinite(land.hess(big)))
    assert np.all(np.isfinite(land.per_sample_grads(big)))


# -- per-sample and minibatch gradients ----------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_per_sample_grads_average_to_the_gradient(cls, batch):
    land = cls(samples=20, dim=3, ridge=0.3, seed=1)
    x = points(land, batch)
    G = land.per_sample_grads(x)
    assert G.shape == batch + (20, 3)
    np.testing.assert_allclose(G.mean(axis=-2), land.grad(x), rtol=1e-13, atol=1e-15)
    flat, Gf = x.reshape(-1, 3), G.reshape(-1, 20, 3)
    for k in range(len(flat)):  # each row is the formula for that sample, ridge term included
        for i in (0, 7, 19):
            np.testing.assert_allclose(Gf[k, i], manual_sample_grad(land, flat[k], i), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_minibatch_grad(cls, batch):
    land = cls(samples=20, dim=3, ridge=0.3, seed=2)
    x = points(land, batch)
    rng = np.random.default_rng(3)
    # all indices (in any order) give the full gradient
    np.testing.assert_allclose(land.minibatch_grad(x, rng.permutation(20)), land.grad(x), rtol=1e-13, atol=1e-15)
    # one minibatch per point, with repeats: the mean of those per-sample gradients
    idx = rng.integers(0, 20, size=batch + (6,))
    mb = land.minibatch_grad(x, idx)
    assert mb.shape == batch + (3,)
    G = land.per_sample_grads(x)
    manual = np.take_along_axis(G, idx[..., None], axis=-2).mean(axis=-2)
    np.testing.assert_allclose(mb, manual, rtol=1e-13, atol=1e-15)
    # one minibatch shared by every point: idx of shape (b,)
    shared = np.array([4, 4, 11, 0])
    np.testing.assert_allclose(land.minibatch_grad(x, shared), G[..., shared, :].mean(axis=-2), rtol=1e-13, atol=1e-15)


def test_minibatch_grad_broadcasts_and_counts_the_ridge_once():
    land = Logistic(samples=10, dim=2, ridge=0.5, seed=0)
    plain = Logistic(samples=10, dim=2, ridge=0.0, seed=0)
    x = np.array([0.3, -1.2])
    idx = np.array([[1, 2, 3], [9, 9, 9]])  # two minibatches for one point -> two gradients
    g = land.minibatch_grad(x, idx)
    assert g.shape == (2, 2)
    np.testing.assert_allclose(g, plain.minibatch_grad(x, idx) + 0.5 * x, rtol=1e-14)
    np.testing.assert_allclose(g[1], manual_sample_grad(land, x, 9), rtol=1e-13)
    # points (4, 2) against minibatches (3, 1, b): batch (3, 4)
    assert land.minibatch_grad(points(land, (4,)), np.zeros((3, 1, 5), dtype=int)).shape == (3, 4, 2)


@pytest.mark.parametrize("idx, match", [
    (np.array([0.0, 1.0]), "integer sample indices"),
    (np.array([True, False]), "integer sample indices"),
    (np.zeros(0, dtype=int), "b >= 1"),
    (np.int64(3), "shape"),
    (np.array([0, 10]), r"in \[0, 10\)"),
    (np.array([-1, 2]), r"in \[0, 10\)"),
    (np.zeros((3, 2), dtype=int), "does not broadcast"),
])
def test_minibatch_grad_bad_indices(idx, match):
    land = LeastSquares(samples=10)
    with pytest.raises(ValueError, match=match):
        land.minibatch_grad(np.zeros((4, 2)), idx)


# -- minima --------------------------------------------------------------------------------------
def assert_stationary(land, m):
    """|∇f(m)| ≤ 1e-10 relative to the per-sample gradients that cancel in it."""
    scale = np.mean(np.linalg.norm(land.per_sample_grads(m), axis=-1))
    assert np.linalg.norm(land.grad(m)) <= 1e-10 * scale


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_least_squares_minimum_is_lstsq(dim):
    land = LeastSquares(dim=dim, seed=dim)
    assert land.minima.shape == (1, dim)
    m = land.minima[0]
    assert_stationary(land, m)
    np.testing.assert_allclose(m, np.linalg.lstsq(land.A, land.b, rcond=None)[0], rtol=1e-12)


def test_least_squares_ridge_minimum_solves_the_normal_equations():
    land = LeastSquares(samples=30, dim=4, ridge=0.7, seed=8)
    m = land.minima[0]
    assert_stationary(land, m)
    exact = np.linalg.solve(land.A.T @ land.A + 30 * 0.7 * np.eye(4), land.A.T @ land.b)
    np.testing.assert_allclose(m, exact, rtol=1e-12)


def test_least_squares_underdetermined_lists_the_least_norm_minimum():
    land = LeastSquares(samples=3, dim=5, seed=1)
    m = land.minima[0]
    assert land.value(m) == pytest.approx(0, abs=1e-25)  # interpolates: a global minimum
    np.testing.assert_allclose(m, np.linalg.pinv(land.A) @ land.b, rtol=1e-12)
    assert np.linalg.norm(land.grad(m)) <= 1e-14


@pytest.mark.parametrize("params", [dict(), dict(dim=1), dict(dim=5, seed=3), dict(ridge=1.0),
                                    dict(samples=400, ridge=0.0)], ids=str)
def test_logistic_minimum(params):
    land = Logistic(**params)
    assert land.minima.shape == (1, land.dim)
    m = land.minima[0]
    assert_stationary(land, m)
    assert np.linalg.eigvalsh(land.hess(m))[0] > 0
    # f is convex: no random nearby point, nor any point of the plot box, is lower
    nearby = m + 1e-3 * np.random.default_rng(0).standard_normal((50, land.dim))
    assert np.all(land.value(nearby) > land.value(m))
    assert land.value(points(land, (500,))).min() >= land.value(m)


def test_logistic_separable_data_without_ridge_has_no_minimum():
    land = Logistic(samples=2, dim=3, ridge=0.0)  # N ≤ d: some w separates any labels
    assert land.minima.shape == (0, 3)
    direction = np.linalg.lstsq(land.y[:, None] * land.A, np.ones(2), rcond=None)[0]  # all margins 1
    assert np.all(np.diff(land.value(np.outer([0, 1, 10, 100], direction))) < 0)  # f decreases forever
    assert Logistic(samples=2, dim=3, ridge=1e-3).minima.shape == (1, 3)  # the ridge restores one


# -- data, seeds, parameters ---------------------------------------------------------------------
@pytest.mark.parametrize("cls, target", [(LeastSquares, "b"), (Logistic, "y")])
def test_data_are_seeded(cls, target):
    one, two, other = cls(seed=5), cls(seed=5), cls(seed=6)
    assert np.array_equal(one.A, two.A) and np.array_equal(getattr(one, target), getattr(two, target))
    assert not np.array_equal(one.A, other.A)
    assert one.A.shape == (64, 2) and getattr(one, target).shape == (64,) and one.samples == 64
    assert not one.A.flags.writeable and not getattr(one, target).flags.writeable
    x = points(one, (7,))
    assert np.array_equal(one.value(x), two.value(x))


def test_logistic_labels_are_both_classes():
    y = Logistic(samples=200).y
    assert set(np.unique(y)) == {-1.0, 1.0} and 0.2 < np.mean(y > 0) < 0.8


def test_registry_spec_and_label():
    land = landscape("least-squares(samples=32, seed=3)")
    assert isinstance(land, LeastSquares) and land.samples == 32 and land.seed == 3
    assert land.label == "least-squares(samples=32, seed=3)"  # the data are not parameters
    again = landscape(land.label)
    assert np.array_equal(again.A, land.A) and np.array_equal(again.b, land.b)
    log = landscape("logistic", dim=3, ridge=0.5)
    assert isinstance(log, Logistic) and log.label == "logistic(dim=3, ridge=0.5)"
    assert np.array_equal(landscape(log.label).y, log.y)
    assert LANDSCAPES["least-squares"] is LeastSquares and LANDSCAPES["logistic"] is Logistic


@pytest.mark.parametrize("name", ["least-squares", "logistic"])
@pytest.mark.parametrize("params, match", [
    (dict(samples=0), "samples must"),
    (dict(samples=2.5), "samples must"),
    (dict(samples=10**6), "samples must be at most"),
    (dict(dim=0), "dim must"),
    (dict(seed=-1), "seed must"),
    (dict(ridge=-0.1), "ridge must"),
    (dict(ridge=float("nan")), "ridge must"),
])
def test_bad_parameters_raise(name, params, match):
    with pytest.raises(ValueError, match=match):
        landscape(name, **params)


def test_bad_noise_raises():
    with pytest.raises(ValueError, match="noise must"):
        landscape("least-squares", noise=-1)
    with pytest.raises(ValueError, match="Parameters: samples, dim, ridge, seed"):
        landscape("logistic", noise=0.5)  # logistic labels are noisy by sampling, not by a parameter
