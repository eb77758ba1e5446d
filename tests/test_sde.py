"""The SDEs of SGD and the distributional comparisons: exact oracles of the discretized OU process,
the noisy lift at dt = lr, Gibbs densities, Eyring–Kramers escape times, and the ensemble figure.

Tolerances of statistical checks come from the sample size (see tests/test_noise.py).
"""

import dataclasses

import numpy as np
import pytest

from helpers import Z, ou, var_tolerance

import simulate as sim
from simulate.solvers.discrete import iterate
from simulate.analysis.ensembles import (Ensemble, ensemble, escape_times, find_saddle, gibbs_marginal, kramers_time,
                               mean_escape_time, moments, temperature)
from simulate.viz.figures import ensemble_figure
from simulate.solvers.noise import Noise
from simulate.solvers.sdes import diffusion, sde



# -- the lift at dt = lr is the optimizer ------------------------------------------------------------
@pytest.mark.parametrize("spec", ["gd(lr=0.05)", "gd(lr=0.05, weight_decay=0.1)", "momentum(lr=0.02, momentum=0.9)",
                                  "nesterov(lr=0.02, momentum=0.8)"])
@pytest.mark.parametrize("noise", [0.7, Noise(cov=[[1.0, 0.3], [0.3, 0.5]])])
def test_euler_maruyama_at_dt_lr_reproduces_the_noisy_iterates(spec, noise):
    """With the same draws, one semi-implicit Euler–Maruyama step of the noisy lift is one noisy
    optimizer step: this pins the diffusion coefficients (−√lr on x, 1/√lr on the buffer, both
    for Nesterov) to the discrete noise."""
    land = sim.landscape("quadratic(condition=10, angle=0.5)")  # contracting: rounding is not amplified
    x0 = np.array([[1.0, 1.0], [-2.0, 0.5], [0.0, -3.0]])
    run = iterate(land, spec, x0, 40, noise=noise, seed=9)
    model = sde(land, spec, x0, 40, noise=noise, seed=9, substeps=1)
    np.testing.assert_allclose(model.x, run.x, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(model.t, run.t)


def test_diffusion_table():
    lr = 0.04
    assert diffusion(sim.flow(sim.optimizer("gd", lr=lr)))["x"] == pytest.approx(-0.2)
    hb = sim.optimizer("momentum", lr=lr, momentum=0.9, dampening=0.5)
    assert diffusion(sim.flow(hb)) == {"b": pytest.approx(0.5 / 0.2)}
    assert diffusion(sim.flow(hb, "limit"))["x"] == pytest.approx(-0.2 * 0.5 / 0.1)  # speed (1 − τ)/(1 − μ)
    assert diffusion(sim.flow(hb.__class__(lr=lr, momentum=0.9), "modified"))["x"] == pytest.approx(-0.2 / 0.1)
    with pytest.raises(ValueError, match="no SDE is built on the oscillator flow"):
        diffusion(sim.flow(hb.__class__(lr=lr, momentum=0.9), "oscillator"))


def test_with_dampening_only_the_first_step_differs():
    """torch's first buffer is g̃, undampened: the lift (b(0) = τ·g/μ) takes (1 − τ) of that step's
    noise; every later step is the same map, so with the same draws the gap is τ·lr·ξ₁ carried on."""
    land = sim.landscape("quadratic(condition=10, angle=0.5)")
    spec = "sgd(lr=0.02, momentum=0.9, dampening=0.5)"
    run = iterate(land, spec, np.ones((3, 2)), 30, noise=0.7, seed=9)
    model = sde(land, spec, np.ones((3, 2)), 30, noise=0.7, seed=9, substeps=1)
    xi = np.random.default_rng(9).standard_normal((3, 2)) * 0.7
    np.testing.assert_allclose(run.x[1] - model.x[1], -0.02 * 0.5 * xi, rtol=1e-9)


# -- OU oracles of the discretized SDEs -----------------------------------------------------------------
def em_variance(rate, s2, dt):
    """Stationary variance of Euler–Maruyama on dX = −rate·X dt + s dW: s²/(rate(2 − rate·dt))."""
    return s2 / (rate * (2 - rate * dt))


def heun_variance(rate, s2, dt):
    """Stochastic Heun on the same SDE: X' = A·X + B·s·ΔW, A = 1 − z + z²/2, B = 1 − z/2, z = rate·dt."""
    z = rate * dt
    A, B = 1 - z + z**2 / 2, 1 - z / 2
    return B**2 * s2 * dt / (1 - A**2)


@pytest.mark.parametrize("scheme, drift, oracle", [
    ("euler-maruyama", "exact", em_variance), ("heun", "exact", heun_variance),
    ("euler-maruyama", "modified", em_variance)])
def test_sde_stationary_variance_is_the_schemes_exact_value(scheme, drift, oracle):
    """On f = a·x²/2 with noise σ the SME is dX = −a'X dt + √lr·σ dW (a' = a, or a(1 + lr·a/2) for
    the second-order drift). Its discretization's stationary variance is known exactly; and it
    tends to lr·σ²/(2a') as the substeps grow, far from SGD's lr·σ²/(a(2 − lr·a))."""
    a, lr, sigma, n, m = 1.0, 0.5, 1.0, 20_000, 4
    rate = a * (1 + lr * a / 2) if drift == "modified" else a
    model = sde(ou(a), sim.optimizer("gd", lr=lr), np.zeros((n, 1)), 60, noise=sigma, seed=1, scheme=scheme,
                drift=drift, substeps=m)
    sample = model.x[-1, :, 0].var(ddof=1)
    expected = oracle(rate, lr * sigma**2, lr / m)
    assert abs(sample / expected - 1) < var_tolerance(n)
    sgd = lr * sigma**2 / (a * (2 - lr * a))
    assert abs(sgd / expected - 1) > 2 * var_tolerance(n)


def test_scheme_bias_has_order_one_for_euler_maruyama_and_two_for_heun():
    """The exact stationary variances above, against the SDE's own lr·σ²/(2a): the slope of the
    log-error against log dt is 1 (EM) and 2 (Heun). Checks the oracle the statistical tests use."""
    a, s2 = 1.0, 0.5
    dts = 0.2 / 2.0 ** np.arange(6)
    for oracle, order in ((em_variance, 1), (heun_variance, 2)):
        err = np.abs([oracle(a, s2, dt) / (s2 / (2 * a)) - 1 for dt in dts])
        slope = np.polyfit(np.log(dts), np.log(err), 1)[0]
        assert slope == pytest.approx(order, abs=0.05)


def test_ou_mean_of_the_sde_is_the_exponential():
    a, lr, n = 1.0, 0.5, 20_000
    model = sde(ou(a), sim.optimizer("gd", lr=lr), np.full((n, 1), 10.0), 6, noise=1.0, seed=2, substeps=50,
                scheme="heun")
    t = model.t
    var = lr / (2 * a) * (1 - np.exp(-2 * a * t))
    se = np.sqrt(var / n)
    mean = model.x[:, :, 0].mean(axis=1)
    # Heun's mean is exp(−at) to O(dt²) = 1e-4 here, far below the standard error
    assert np.all(np.abs(mean - 10 * np.exp(-a * t)) <= Z * se + 1e-3)


def test_sde_refusals():
    land = sim.landscape("himmelblau")
    with pytest.raises(ValueError, match="needs gradient noise"):
        sde(land, "gd", steps=2)
    with pytest.raises(ValueError, match="no SDE model for adam"):
        sde(land, "adam", steps=2, noise=1.0)
    with pytest.raises(ValueError, match="Did you mean 'heun'"):
        sde(land, "gd", steps=2, noise=1.0, scheme="hune")
    with pytest.raises(ValueError, match="drift 'oscillator'"):
        sde(land, "momentum(momentum=0.9)", steps=2, noise=1.0, drift="oscillator")
    with pytest.raises(ValueError, match="substeps"):
        sde(land, "gd", steps=2, noise=1.0, substeps=0)


def test_sde_divergence_is_data():
    """Paths that blow up are stopped and reported per member, never raised or clipped."""
    land = ou(1.0)
    model = sde(land, sim.optimizer("gd", lr=3.0), np.ones((5, 1)), 400, noise=1.0, substeps=1)
    assert np.all(model.diverged_at > 0) and np.all(model.status == 2)
    m = moments(model)
    assert m.count[0] == 5 and m.count[-1] == 0


# -- moments, Gibbs, escapes -----------------------------------------------------------------------------
def test_moments_leave_out_the_sample_that_left_the_ball():
    """GD at lr·a = 2.1 diverges: each path's escaping sample is finite (beyond the escape radius)
    but no longer part of the ensemble's moments or its stationary samples."""
    run = iterate(ou(1.0), "gd(lr=2.1)", np.ones((5, 1)), 200, noise=0.01, seed=1)
    k = int(run.diverged_at.min())
    assert np.all(np.isfinite(run.x[k, run.diverged_at == k]))
    m = moments(run)
    assert m.count[k] == np.sum(run.diverged_at > k)
    assert np.all(np.abs(m.mean[:k]) <= run.stats["escape_radius"])


def test_moments_leave_out_stopped_paths():
    run = iterate("himmelblau", "gd(lr=0.1)", np.zeros((4, 2)), 3, noise=1.0)
    x = run.x.copy()
    x[2:, 1] = np.nan  # member 1 stopped at sample 2
    m = moments(dataclasses.replace(run, x=x))
    np.testing.assert_array_equal(m.count, [4, 4, 3, 3])
    np.testing.assert_allclose(m.mean[3], x[3, [0, 2, 3]].mean(axis=0))
    np.testing.assert_allclose(m.cov[3], np.cov(x[3, [0, 2, 3]].T))


def test_gibbs_marginal_of_a_quadratic_is_the_gaussian():
    land = sim.landscape("quadratic", eigenvalues=[2.0, 5.0], dim=2)
    T = 0.3
    for axis, lam in ((0, 2.0), (1, 5.0)):
        x, density = gibbs_marginal(land, T, axis, bounds=[[-6, 6], [-6, 6]], resolution=801)
        gauss = np.exp(-lam * x**2 / (2 * T)) / np.sqrt(2 * np.pi * T / lam)
        np.testing.assert_allclose(density, gauss, atol=1e-6)


def test_temperature():
    assert temperature(sim.optimizer("gd", lr=0.1), Noise(2.0)) == pytest.approx(0.2)
    assert temperature(sim.optimizer("momentum", lr=0.1, momentum=0.5), Noise(2.0)) == pytest.approx(0.4)
    assert temperature(sim.optimizer("sgd", lr=0.1, momentum=0.5, dampening=0.5), Noise(2.0)) == pytest.approx(0.2)
    assert temperature(sim.optimizer("adam"), Noise(1.0)) is None
    assert temperature(sim.optimizer("gd"), Noise((1.0, 2.0))) is None


def test_sde_stationary_histogram_matches_the_gibbs_density():
    """The 1-D double well at T = 0.5: the SDE's paths at t = 40 (several barrier crossings each)
    against ∝ exp(−f/T), by a χ² test on bins of at least 5 expected counts (fixed seed; the 0.1%
    critical value), and the same test rejects the Gibbs law at twice the temperature."""
    from scipy.stats import chi2

    land = sim.landscape("double-well(dim=1)")
    lr, T, n = 0.05, 0.5, 4000
    model = sde(land, sim.optimizer("gd", lr=lr), np.full((n, 1), -1.0), 800, noise=np.sqrt(2 * T / lr), seed=3,
                scheme="heun", substeps=2)
    samples = model.x[-1, :, 0]

    def statistic(temp):
        grid, density = gibbs_marginal(land, temp, bounds=[[-3, 3]], resolution=6001)
        edges = np.linspace(-2, 2, 41)
        cdf = np.concatenate([[0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
        probs = np.diff(np.interp(edges, grid, cdf))
        probs = np.concatenate([[np.interp(-2, grid, cdf)], probs, [1 - np.interp(2, grid, cdf)]])
        counts = np.concatenate([[np.sum(samples < -2)], np.histogram(samples, edges)[0], [np.sum(samples >= 2)]])
        keep = probs * n >= 5
        expected = probs[keep] * n
        observed = counts[keep]
        return np.sum((observed - expected) ** 2 / expected), keep.sum() - 1

    stat, dof = statistic(T)
    assert stat < chi2.ppf(0.999, dof)
    stat, dof = statistic(2 * T)
    assert stat > chi2.ppf(0.999, dof)


def test_escape_times_of_handmade_paths():
    land = sim.landscape("double-well")
    run = iterate(land, "gd(lr=0.1)", np.array([[-1.0, 0.0], [-1.0, 0.0]]), 4)
    x = np.array(run.x)
    x[:, 0] = [[-1, 0], [0, 0], [0.8, 0], [1, 0], [1, 0]]  # within 0.5 of (1, 0) from sample 2
    x[:, 1] = [[-1, 0], [0, 0], [-1, 0], [0.4, 0], [-1, 0]]  # never closer than 0.6
    times = escape_times(dataclasses.replace(run, x=x))
    np.testing.assert_array_equal(times, [0.2, np.inf])
    # counted from the well of a given point instead (an ensemble passes where its flow ended)
    np.testing.assert_array_equal(escape_times(dataclasses.replace(run, x=x), home=[0.9, 0.1]), [0.0, 0.0])
    assert mean_escape_time(times, 0.4) == pytest.approx(0.6)
    assert mean_escape_time(times, np.array([0.4, 0.1])) == pytest.approx(0.3)  # a path watched until it stopped
    stopped = dataclasses.replace(run, x=x, diverged_at=np.array([1, -1]))
    np.testing.assert_array_equal(escape_times(stopped), [np.inf, np.inf])  # its later samples do not count
    with pytest.raises(ValueError, match="capture must be a positive distance"):
        escape_times(stopped, capture=0.0)
    with pytest.raises(ValueError, match="at least two listed minima"):
        escape_times(iterate("booth", "gd", steps=2))


def test_escape_times_follow_eyring_kramers_and_arrhenius():
    """1-D double well, barrier ΔL = 1, curvatures 8 (well) and −4 (saddle): the SDE's mean first
    arrival in the other well is 2π/√32·exp(1/T) to within the asymptotic O(T) correction and the
    sampling error (400 paths: 5%), and log τ against 1/T has slope ΔL."""
    land = sim.landscape("double-well(dim=1)")
    saddle = find_saddle(land, land.minima[0], land.minima[1])
    assert saddle == pytest.approx([0.0], abs=1e-12)
    lr, n = 0.05, 400
    measured = {}
    for T in (0.5, 1 / 3):
        predicted = kramers_time(land, T, land.minima[0], saddle)
        assert predicted == pytest.approx(2 * np.pi / np.sqrt(32) * np.exp(1 / T))
        steps = int(4 * predicted / lr)
        model = sde(land, sim.optimizer("gd", lr=lr), np.full((n, 1), -1.0), steps, noise=np.sqrt(2 * T / lr),
                    seed=4, scheme="heun", substeps=2)
        measured[T] = mean_escape_time(escape_times(model), model.t[-1])
        assert 0.8 < measured[T] / predicted < 1.45
    slope = np.log(measured[1 / 3] / measured[0.5]) / (3 - 2)
    assert slope == pytest.approx(1.0, abs=0.25)


# -- ensembles and their figure ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_ensemble() -> Ensemble:
    return ensemble("double-well", ["gd(lr=0.05)", "momentum(lr=0.05, momentum=0.5)", "adam(lr=0.05)"], [-1.0, 0.5],
                    150, noise=2.0, paths=60, seed=7)


def test_ensemble_runs_iterates_sdes_and_flows(small_ensemble):
    ens = small_ensemble
    gd, hb, adam = ens.entries
    assert gd.iterates.x.shape == gd.sde.x.shape == (151, 60, 2) and gd.flow.x.shape == (151, 2)
    assert adam.sde is None and "no SDE model for adam" in adam.sde_note
    assert gd.temperature == pytest.approx(0.05 * 4 / 2) and hb.temperature == pytest.approx(0.2)
    again = ensemble("double-well", ["gd(lr=0.05)"], [-1.0, 0.5], 150, noise=2.0, paths=60, seed=7)
    assert np.array_equal(again.entries[0].iterates.x, gd.iterates.x)
    assert np.array_equal(again.entries[0].sde.x, gd.sde.x)
    summary = ens.summary()
    first = summary["optimizers"][0]
    np.testing.assert_allclose(first["iterates"]["final_mean"], gd.iterates.x[-1].mean(axis=0))
    assert {"escaped", "mean_escape_time", "stationary_cov"} <= set(first["sde"])
    np.testing.assert_allclose(gd.home, gd.flow.x[-1])
    land, well = ens.landscape, ens.landscape.minima[0]
    assert first["kramers_time"] == pytest.approx(kramers_time(land, 0.1, well, [0.0, 0.0]))
    # heavy ball's small-lr SDE runs ∇f at speed 1/(1 − μ): the same escape at half the time
    assert summary["optimizers"][1]["kramers_time"] == pytest.approx(0.5 * kramers_time(land, 0.2, well, [0.0, 0.0]))
    assert summary["optimizers"][2]["kramers_time"] is None
    arrays = ens.arrays()
    np.testing.assert_array_equal(arrays["sde_mean_1"], moments(hb.sde).mean)
    assert "sde_x_2" not in arrays and "iterates_x_2" in arrays


def test_ensemble_refusals():
    with pytest.raises(ValueError, match="modified2 flow"):  # before any path is run
        ensemble("himmelblau", ["gd", "momentum(momentum=0.9)"], steps=10**6, noise=1.0, drift="modified2")
    with pytest.raises(ValueError, match="needs gradient noise"):
        ensemble("himmelblau", ["gd"], steps=3)
    with pytest.raises(ValueError, match="one start"):
        ensemble("himmelblau", ["gd"], [[0, 0], [1, 1]], 3, noise=1.0)
    with pytest.raises(ValueError, match="paths must be"):
        ensemble("himmelblau", ["gd"], steps=3, noise=1.0, paths=0)
    with pytest.raises(ValueError, match="one configuration"):
        ensemble("himmelblau", [sim.optimizer("gd", lr=[0.1, 0.2])], steps=3, noise=1.0)


def test_ensemble_figure_draws_the_data(small_ensemble):
    ens = small_ensemble
    fig = ensemble_figure(ens)
    ax_path, ax_hist, ax_x1, ax_x2 = fig.axes
    gd = ens.entries[0]
    # the flow is drawn through its samples; mean lines equal the moments
    assert any(np.array_equal(line.get_xydata(), gd.flow.x) for line in ax_path.lines)
    m = moments(gd.iterates)
    assert any(np.allclose(line.get_ydata(), m.mean[:, 0]) for line in ax_x1.lines)
    assert any(np.allclose(line.get_ydata(), moments(gd.sde).mean[:, 1]) for line in ax_x2.lines)
    # the Gibbs curve of gd is the normalized marginal at its temperature
    gibbs = [line for line in ax_hist.lines if "Gibbs" in line.get_label()]
    assert len(gibbs) == 2 and "T = 0.1" in gibbs[0].get_label()
    x, density = gibbs[0].get_data()
    np.testing.assert_allclose(np.trapezoid(density, x), 1.0, rtol=1e-9)
    labels = [t.get_text() for t in ax_hist.get_legend().get_texts()]
    assert any("reached another minimum" in label for label in labels)


def test_plot_with_noise_returns_the_ensemble():
    result = sim.plot("quadratic(dim=1, eigenvalues=[1])", ["gd(lr=0.2)"], [2.0], 50, noise=1.0, paths=30)
    assert isinstance(result.experiment, Ensemble) and result.experiment.paths == 30
    with pytest.raises(ValueError, match="exact gradients"):
        sim.plot("himmelblau", ["gd"], steps=3, noise=1.0, sharpness=True)


def test_kramers_is_reported_only_where_it_applies():
    land = sim.landscape("double-well")
    with pytest.raises(ValueError, match="exactly one negative"):
        kramers_time(land, 0.1, [1.0, 0.0], [-1.0, 0.0])  # a minimum is no saddle
    with pytest.raises(ValueError, match="temperature"):
        kramers_time(land, 0.0, [1.0, 0.0], [0.0, 0.0])
    hot = ensemble(land, ["gd(lr=0.05)"], [-1.0, 0.0], 5, noise=10.0, paths=3)
    assert hot.summary()["optimizers"][0]["kramers_time"] is None
    assert "not well above T = 2.5" in hot.summary()["optimizers"][0]["kramers_note"]
    unstable = ensemble(land, ["gd(lr=0.3)"], [-1.0, 0.0], 5, noise=0.5, paths=3)  # lr·8 > 2 in the wells
    assert "stability threshold" in unstable.summary()["optimizers"][0]["kramers_note"]


def test_the_figure_says_when_the_gibbs_law_is_out_of_reach(small_ensemble):
    labels = [line.get_label() for line in ensemble_figure(small_ensemble).axes[1].lines]
    gd = [label for label in labels if label.startswith("gd: Gibbs")][0]
    assert "wells equalize after t ~" in gd  # T = 0.1: Kramers' 2·10⁴ ≫ the run's 7.5
    only_adam = ensemble("himmelblau", ["adam(lr=0.05)"], steps=5, noise=1.0, paths=3)
    fig = ensemble_figure(only_adam)
    assert "SDE" not in fig.axes[2].get_title() and "no SDE model" in fig._suptitle.get_text()


def test_relaxation_is_diagnosed_from_independent_paths():
    from simulate.analysis.ensembles import relaxed

    land = sim.landscape("least-squares")
    start = np.broadcast_to(land.default_start, (200, 2))
    assert relaxed(iterate(land, "gd(lr=0.2)", start, 100, batch_size=4, seed=1)) is False  # x₂ still drifts
    assert relaxed(iterate(land, "gd(lr=0.2)", start, 1000, batch_size=4, seed=1)) is True
    # started in the stationary law of the AR(1) process: relaxed from the start
    v = 0.2 / (2 - 0.2)
    x0 = np.random.default_rng(0).normal(0, np.sqrt(v), (400, 1))
    assert relaxed(iterate(ou(1.0), "gd(lr=0.2)", x0, 40, noise=1.0, seed=2)) is True
    # spreading without drifting: the mean stays 0 while the variance grows (lr·a small)
    assert relaxed(iterate(ou(1.0), "gd(lr=0.001)", np.zeros((400, 1)), 400, noise=1.0, seed=2)) is False
    assert relaxed(iterate(ou(1.0), "gd(lr=0.2)", np.zeros((5, 1)), 40, noise=1.0)) is None  # too few paths
