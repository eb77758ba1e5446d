"""Noise keyed by grid cell (``NoisyGradients(..., cells=...)``, :class:`CellStreams`): a member's
draws depend on (seed, cell, step, draw, element) only, so a grid run whole, in halves, reversed or
shuffled gives every cell the same bits; the numbers have the right distribution; and the bits are
pinned (known answers, a fresh process), as a chunked sweep on other machines needs.

Statistical checks use fixed seeds and tolerances from the sample size: a mean within 5 standard
errors, a variance within 5·√(2/(n − 1)) relative, a correlation within 5/√n, chi-square p > 1e-4.
"""

import subprocess
import sys

import numpy as np
import pytest
from scipy import special, stats

from helpers import var_tolerance

import simulate as sim
from simulate.solvers.discrete import run_map
from simulate.solvers.noise import CellStreams, Noise, NoisyGradients, _log, _mix, _mix_int, _normal_quantile

N = 12  # members (cells) of the batch
KINDS = {
    "gaussian": ("himmelblau", Noise(0.5)),
    "gaussian, cov": ("himmelblau", Noise(cov=[[1.0, 0.3], [0.3, 0.5]])),
    "minibatch": ("least-squares(samples=20)", Noise(batch_size=4)),
    "minibatch, with replacement": ("least-squares(samples=20)", Noise(batch_size=4, replacement=True)),
    "minibatch and gaussian": ("logistic(samples=15, seed=2)", Noise(0.2, batch_size=15)),
}


def starts(land, cells):
    """A start per cell that depends on the cell only (members differ, so state-dependent noise does)."""
    cells = np.asarray(cells, dtype=np.float64)
    return np.stack([np.cos(cells), np.sin(0.7 * cells)], axis=-1) * (1.0 + 0.1 * cells[..., None])[..., :1]


def run(spec, model, cells, steps=6, optimizer="adam"):
    """The iterates (steps + 1, len(cells), d) of a noisy run of the batch ``cells``, seed 9."""
    land = sim.landscape(spec)
    x0 = starts(land, cells)
    stepped = NoisyGradients(land, model, 9, cells=np.asarray(cells))
    _, xs = run_map(sim.optimizer(optimizer, lr=0.05), stepped, x0, steps, 1e6, x0.shape[:-1])
    return xs


def reorders(cells):
    order = np.random.default_rng(3).permutation(len(cells))
    return {"halves": [cells[:len(cells) // 2], cells[len(cells) // 2:]], "reversed": [cells[::-1]],
            "shuffled": [cells[order]], "one by one": [cells[i:i + 1] for i in range(len(cells))]}


# -- the same bits whatever the batch ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_in_chunks_or_in_any_order_equals_the_whole_run_bit_for_bit(kind):
    spec, model = KINDS[kind]
    cells = np.arange(N)
    whole = run(spec, model, cells)
    assert np.all(np.isfinite(whole)) and np.ptp(whole[-1], axis=0).min() > 0
    for name, parts in reorders(cells).items():
        got = np.empty_like(whole)
        for part in parts:
            got[:, part] = run(spec, model, part)
        np.testing.assert_array_equal(got, whole, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_each_steps_gradients_are_keyed_by_cell_and_step(kind):
    spec, model = KINDS[kind]
    land = sim.landscape(spec)
    cells = np.arange(N)
    x = starts(land, cells)
    whole, halves = NoisyGradients(land, model, 4, cells=cells), [
        NoisyGradients(land, model, 4, cells=part) for part in (cells[:5], cells[5:])]
    seen = []
    for k in (1, 2, 3):
        whole.begin_step(k)
        g = whole.grad(x)
        np.testing.assert_array_equal(whole.grad(x), g)  # one draw per step, whatever evaluates it
        for oracle in halves:
            oracle.begin_step(k)
        np.testing.assert_array_equal(np.concatenate([halves[0].grad(x[:5]), halves[1].grad(x[5:])]), g)
        seen.append(g)
    assert not np.array_equal(seen[0], seen[1])  # a new step draws anew
    unkeyed = NoisyGradients(land, model, 4)
    unkeyed.begin_step(1)
    assert not np.array_equal(unkeyed.grad(x), seen[0])  # without cells: the one shared stream, as before


@pytest.mark.parametrize("model", [Noise(batch_size=5), Noise(batch_size=5, replacement=True),
                                   Noise(0.3, batch_size=5), Noise(cov=[[1.0, 0.2], [0.2, 0.4]])],
                         ids=["minibatch", "with replacement", "minibatch and gaussian", "gaussian cov"])
def test_the_state_dependent_kick_is_keyed_by_cell(model):
    land = sim.landscape("least-squares(samples=20)")
    cells = np.arange(N)
    x = starts(land, cells)
    whole = CellStreams(8, cells)
    for k in (1, 2):
        whole.begin_step(k)
        kicks = model.kick(land, x, whole)
        for name, parts in reorders(cells).items():
            got = np.empty_like(kicks)
            for part in parts:
                streams = CellStreams(8, part)
                streams.begin_step(k)
                got[part] = model.kick(land, x[part], streams)
            if name == "one by one" and model.batch_size is not None:
                # the draws are the same; the landscape's weighted_grad, (w·ℓ′) @ A, is a matrix-vector
                # product for one row (BLAS gemv) and sums in another order than for many (gemm)
                np.testing.assert_allclose(got, kicks, rtol=1e-13, atol=1e-15, err_msg=name)
            else:
                np.testing.assert_array_equal(got, kicks, err_msg=name)


def test_a_grid_of_cells_in_any_shape_draws_by_flat_index():
    grid = np.arange(12).reshape(3, 4)
    flat, shaped = CellStreams(1, grid.ravel()), CellStreams(1, grid)
    np.testing.assert_array_equal(shaped.standard_normal((3, 4, 2)), flat.standard_normal((12, 2)).reshape(3, 4, 2))
    np.testing.assert_array_equal(shaped.random((3, 4)), flat.random(12).reshape(3, 4))
    np.testing.assert_array_equal(CellStreams(1, [5, 5]).random((2, 3))[0], CellStreams(1, [5]).random((1, 3))[0])


def test_cells_are_checked():
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        CellStreams(1, [0.5, 1.0])
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        CellStreams(1, [-1, 2])
    with pytest.raises(ValueError, match="seed must be a whole number"):
        CellStreams(-3, [0])
    with pytest.raises(ValueError, match="the batch evaluated must be the cells' shape"):
        CellStreams(1, np.arange(4)).standard_normal((5, 2))
    with pytest.raises(ValueError, match="high must exceed low"):
        CellStreams(1, np.arange(4)).integers(3, 3, (4,))


# -- the distribution -------------------------------------------------------------------------------
def test_normals_have_mean_0_and_variance_1():
    n = 10 ** 6
    z = CellStreams(5, np.arange(1000)).standard_normal((1000, 1000)).ravel()
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < var_tolerance(n)
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n) and abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4


@pytest.mark.parametrize("count", [2, 7, 20, 1000])
def test_integers_are_uniform(count):
    draws = CellStreams(6, np.arange(500)).integers(0, count, (500, 2000)).ravel()
    assert draws.min() >= 0 and draws.max() < count
    assert stats.chisquare(np.bincount(draws, minlength=count)).pvalue > 1e-4
    shifted = CellStreams(6, np.arange(500)).integers(10, 10 + count, (500, 2000)).ravel()
    np.testing.assert_array_equal(shifted, draws + 10)


def test_uniforms_are_uniform_on_the_unit_interval():
    u = CellStreams(7, np.arange(1000)).random((1000, 1000)).ravel()
    assert u.min() >= 0 and u.max() < 1
    assert stats.chisquare(np.histogram(u, bins=100, range=(0, 1))[0]).pvalue > 1e-4


def test_cells_steps_and_draws_are_uncorrelated():
    n = 10 ** 5
    cells = np.arange(2 * n)
    streams = CellStreams(2, cells)
    streams.begin_step(1)
    first, second = streams.standard_normal((2 * n, 2)), streams.standard_normal((2 * n, 2))
    streams.begin_step(2)
    later = streams.standard_normal((2 * n, 2))
    pairs = {
        "neighbouring cells": (first[0::2, 0], first[1::2, 0]),
        "elements of one draw": (first[:n, 0], first[:n, 1]),
        "two draws of a step": (first[:n, 0], second[:n, 0]),
        "two steps": (first[:n, 0], later[:n, 0]),
        "two steps, absolute values": (np.abs(first[:n, 0]), np.abs(later[:n, 0])),
    }
    for name, (a, b) in pairs.items():
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n), name
    other_seed = CellStreams(3, cells).standard_normal((2 * n, 2))
    assert abs(np.corrcoef(first[:, 0], other_seed[:, 0])[0, 1]) < 5 / np.sqrt(2 * n)


def test_the_normal_quantile_is_as241_to_1e_15_and_odd():
    k = np.concatenate([np.random.default_rng(2).integers(0, 2 ** 52, 10 ** 5).astype(np.float64),
                        [0.0, 1.0, 2.0 ** 30, 2.0 ** 51, 2.0 ** 52 - 1]])
    z, exact = _normal_quantile(k), special.ndtri((k + 0.5) * 2.0 ** -53)  # p < 1/2: exactly representable
    np.testing.assert_allclose(z, exact, rtol=2e-15, atol=1e-15)
    np.testing.assert_array_equal(_normal_quantile(2.0 ** 53 - 1 - k), -z)  # the upper half mirrors the lower
    x = np.concatenate([np.exp(np.linspace(-40, 0, 10 ** 5)), [2.0 ** -54, 0.5, 1.0]])
    assert np.max(np.abs(_log(x) - np.log(x)) / np.spacing(np.abs(np.log(x)) + 1e-300)) <= 1.0


# -- the same bits everywhere -----------------------------------------------------------------------
KNOWN = """
import numpy as np
from simulate.solvers.noise import CellStreams
s = CellStreams(2026, np.array([0, 1, 7, 10 ** 9]))
s.begin_step(3)
out = [s.bits((4, 2)), s.standard_normal((4, 3)), s.integers(0, 10, (4, 5)), s.random((4,))]
text = ";".join(a.tobytes().hex() for a in out)
"""


def test_the_splitmix64_finalizer_and_known_draws():
    """Known answers pin the generator: a change of algorithm (or a machine that computed other
    bits) fails here, not silently in a sweep that mixes chunks from two machines."""
    assert _mix_int(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF  # splitmix64's first word from state 0
    words = np.array([0, 1, 2 ** 63, 2 ** 64 - 1], dtype=np.uint64)
    assert [int(w) for w in _mix(words.copy())] == [_mix_int(int(w)) for w in words]
    s = CellStreams(2026, np.array([0, 1, 7, 10 ** 9]))
    s.begin_step(3)
    bits, z = s.bits((4, 2)), s.standard_normal((4, 3))
    assert [hex(int(w)) for w in bits[:, 0]] == ["0xb4b345e94b1ffac1", "0xe3655ec8e2594f6", "0x91fda2ec2207c438",
                                                "0xc00a3e6d65a271bf"]
    assert [float(v).hex() for v in z[:, 0]] == ["0x1.b3179ebe0e3acp-2", "0x1.14761fdcdb0dep-1",
                                                 "-0x1.d0408dee4b8c4p-1", "0x1.abfbbf37319fap-2"]
    tails = _normal_quantile(np.array([0.0, 12345.0, 2.0 ** 50, 2.0 ** 53 - 1]))
    assert [float(v).hex() for v in tails] == ["-0x1.095b059d67c4cp+3", "-0x1.bf628869be798p+2",
                                              "-0x1.267d4c07b0566p+0", "0x1.095b059d67c4cp+3"]


def test_the_same_seed_and_cell_draw_the_same_bits_in_a_fresh_process():
    fresh = subprocess.run([sys.executable, "-c", KNOWN + "print(text)"], capture_output=True, text=True,
                           check=True).stdout.strip()
    here = {}
    exec(KNOWN, here)
    assert fresh == here["text"] and len(fresh) > 100


# -- what the keyed draws feed ----------------------------------------------------------------------
def test_the_fixed_order_product_is_the_matrix_product():
    model = Noise(cov=[[1.0, 0.3, 0.1], [0.3, 0.5, 0.0], [0.1, 0.0, 2.0]])
    xi = CellStreams(1, np.arange(50)).standard_normal((50, 3))
    np.testing.assert_allclose(model.perturbation(xi, batch_independent=True), model.perturbation(xi),
                               rtol=1e-14, atol=1e-15)
    shifts = model.perturbation(CellStreams(2, np.arange(10 ** 5)).standard_normal((10 ** 5, 3)), True)
    np.testing.assert_allclose(np.cov(shifts.T), model.cov, atol=5 * np.sqrt(2 * 2.0 ** 2 / 10 ** 5))


@pytest.mark.parametrize("replacement", [False, True])
def test_keyed_minibatches_are_uniform_draws_of_the_samples(replacement):
    land = sim.landscape("least-squares(samples=20)")
    model = Noise(batch_size=5, replacement=replacement)
    streams = CellStreams(3, np.arange(20000))
    indices, shift = model.draw(land, (20000,), streams)
    assert shift is None and indices.shape == (20000, 5) and indices.min() >= 0 and indices.max() < 20
    if not replacement:
        assert np.all(np.diff(np.sort(indices, axis=-1), axis=-1) > 0)  # no sample twice in one minibatch
    assert stats.chisquare(np.bincount(indices.ravel(), minlength=20)).pvalue > 1e-4
