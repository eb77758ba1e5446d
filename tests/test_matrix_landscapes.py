"""Matrix landscapes: their blocks, exact derivatives against finite differences, minima, and the views
that plot draws for them (checked on the drawn data). The generic checks of every registered landscape
(shapes, bounds, labels, minima stationary) are in tests/test_landscapes.py."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import simulate as sim
from helpers import central_difference
from simulate.landscapes.base import matrix_blocks
from simulate.viz.matrix import (block_singular_values, path_plane, plot_projection, plot_singular_values,
                                 product_singular_values)

SPECS = ["matrix-factorization", "matrix-factorization(m=4, n=2, r=3, rank=2)", "matrix-sensing",
         "matrix-sensing(m=3, n=3, rank=2, measurements=5)", "linear-net", "linear-net(inputs=2, hidden=3, outputs=4)"]


@pytest.mark.parametrize("spec", SPECS)
def test_exact_derivatives_match_finite_differences(spec):
    land = sim.landscape(spec)
    x = np.random.default_rng(0).uniform(land.bounds[:, 0], land.bounds[:, 1], size=(6, land.dim))
    np.testing.assert_allclose(land.grad(x), central_difference(land.value, x), atol=1e-7 * (1 + land.value(x).max()))
    np.testing.assert_allclose(land.hess(x), central_difference(land.grad, x), atol=1e-7 * (1 + np.abs(land.grad(x)).max()))


@pytest.mark.parametrize("spec", SPECS)
def test_blocks_minimum_and_realizable_target(spec):
    land = sim.landscape(spec)
    assert sum(r * c for r, c in land.matrix_shapes) == land.dim == sum(r * c for r, c in matrix_blocks(land))
    x = land.default_start
    assert np.array_equal(land.join(land.blocks(x)), x)
    assert land.value(land.minima[0]) <= 1e-28  # f* = 0
    assert np.linalg.norm(land.grad(land.minima[0])) <= 1e-14
    assert np.linalg.eigvalsh(land.hess(land.minima[0]))[0] >= -1e-12


def test_the_products_are_what_the_blocks_say():
    mf = sim.landscape("matrix-factorization", m=4, n=2, r=3, rank=2)
    U, V = mf.blocks(mf.default_start)
    assert U.shape == (4, 3) and V.shape == (2, 3)
    R = U @ V.T - mf.M
    assert mf.value(mf.default_start) == pytest.approx(0.5 * np.sum(R * R), rel=1e-14)
    np.testing.assert_allclose(mf.grad(mf.default_start), np.concatenate([(R @ V).ravel(), (R.T @ U).ravel()]), rtol=1e-13)
    np.testing.assert_allclose(mf.product(mf.minima[0]), mf.M, atol=1e-14)
    assert np.linalg.matrix_rank(mf.M) == 2
    net = sim.landscape("linear-net")
    W1, W2 = net.blocks(net.default_start)
    R = W2 @ W1 @ net._X - net._Y
    assert net.value(net.default_start) == pytest.approx(0.5 * np.sum(R * R), rel=1e-14)
    np.testing.assert_allclose(net.product(net.minima[0]), net.T, atol=1e-14)
    ms = sim.landscape("matrix-sensing")
    X = ms.blocks(ms.default_start)[0]
    r = np.array([np.sum(A.reshape(2, 3) * X) for A in ms.A]) - ms.y
    assert ms.value(ms.default_start) == pytest.approx(0.5 * r @ r, rel=1e-14)
    assert ms.product(ms.default_start) is None
    # a vector landscape is one 1×d row
    assert matrix_blocks(sim.landscape("rosenbrock")) == ((1, 2),) and sim.landscape("rosenbrock").matrix_shapes is None


def test_seeded_data_and_bad_parameters():
    a, b = sim.landscape("matrix-sensing(seed=3)"), sim.landscape("matrix-sensing(seed=3)")
    assert np.array_equal(a.A, b.A) and not np.array_equal(a.A, sim.landscape("matrix-sensing").A)
    with pytest.raises(ValueError, match="rank 3 > r 2"):
        sim.landscape("matrix-factorization(rank=3, r=2)")
    with pytest.raises(ValueError, match="m must be at most 20"):
        sim.landscape("matrix-sensing(m=21)")


# -- views --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs():
    land = sim.landscape("matrix-factorization")
    return land, sim.iterate(land, sim.optimizer("muon", lr=0.02), land.default_start, 40)


def test_singular_value_panel_draws_each_blocks_singular_values(runs):
    land, traj = runs
    ax = plot_singular_values(traj)
    expected = block_singular_values(land, traj.x)
    assert [s.shape for s in expected] == [(41, 2), (41, 2)]
    drawn = [line.get_ydata() for line in ax.lines]
    assert len(drawn) == 4
    for got, want in zip(drawn, [s[:, i] for s in expected for i in range(2)]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), traj.t)
    plt.close(ax.figure)


def test_product_panel_draws_the_singular_values_of_uv_transposed(runs):
    land, traj = runs
    ax = plot_singular_values(traj, product=True)
    U, V = land.blocks(traj.x)
    want = np.linalg.svd(U @ np.swapaxes(V, -1, -2), compute_uv=False)
    np.testing.assert_allclose(np.array([line.get_ydata() for line in ax.lines]).T, want, atol=1e-14)
    np.testing.assert_allclose(product_singular_values(land, traj.x), want, atol=1e-14)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="not a product of factors"):
        plot_singular_values(sim.iterate("matrix-sensing", "muon", steps=3), product=True)


def test_projection_is_onto_the_top_two_principal_directions_of_the_path(runs):
    land, traj = runs
    mean, E = path_plane(traj.x)
    np.testing.assert_allclose(E @ E.T, np.eye(2), atol=1e-12)
    centred = traj.x - mean
    # the plane holds the most spread: no other direction orthogonal to it carries more than the second
    spread = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(np.linalg.norm(centred @ E.T, axis=0), spread[:2], rtol=1e-12)
    ax = plot_projection(traj)
    line = ax.lines[0]
    np.testing.assert_allclose(np.column_stack([line.get_xdata(), line.get_ydata()]), centred @ E.T, atol=1e-14)
    plt.close(ax.figure)


def test_plot_draws_the_matrix_views_instead_of_contours():
    result = sim.plot("matrix-factorization", ["muon(lr=0.02)", "gd(lr=0.05)"], steps=30)
    fig = result.figure
    titles = [ax.get_title() for ax in fig.axes]
    assert any("principal plane" in t for t in titles) and any("singular values of the product" in t for t in titles)
    assert not any(ax.collections and type(ax.collections[0]).__name__ == "QuadContourSet" for ax in fig.axes)
    blocks_ax = next(ax for ax in fig.axes if ax.get_title().startswith("singular values of each block"))
    muon = result.experiment.entries[0].iterates
    np.testing.assert_array_equal(blocks_ax.lines[0].get_ydata(), block_singular_values(muon.landscape, muon.x)[0][:, 0])
    plt.close(fig)
