"""Stochastic gradients: the noise models, seeded runs of every optimizer, and the OU oracles of SGD.

Statistical checks use fixed seeds and tolerances derived from the sample size: a sample mean of n
draws is within 5 standard errors, a sample variance within 5·√(2/(n − 1)) relative (Gaussian).
"""

import numpy as np
import pytest

from helpers import Z, ou, var_tolerance

import simulate as sim
from simulate.solvers.discrete import iterate
from simulate.solvers.noise import Noise, NoisyGradients, noise



# -- the noise model --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    (dict(scale=-1.0), "scale must be >= 0"),
    (dict(scale="a"), "scale must be a number"),
    (dict(scale=float("nan")), "finite"),
    (dict(cov=[[1, 2], [2, 1]]), "positive semidefinite"),
    (dict(cov=[[1, 0.5], [0.4, 1]]), "symmetric"),
    (dict(cov=[1, 2]), "matrix"),
    (dict(scale=1.0, cov=[[1, 0], [0, 1]]), "not both"),
    (dict(batch_size=0), "batch_size must be a whole number >= 1"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(batch_size=True), "batch_size"),
])
def test_invalid_noise_says_which_and_why(bad, message):
    with pytest.raises(ValueError, match=message):
        Noise(**bad)


@pytest.mark.parametrize("text, expected", [
    ("0.5", Noise(0.5)), (0.5, Noise(0.5)), ("0.5,0.1", Noise((0.5, 0.1))),
    ("noise(cov=[[1, 0.5], [0.5, 2]])", Noise(cov=[[1, 0.5], [0.5, 2]])),
    ("gaussian(scale=2)", Noise(2.0)), ("noise(batch_size=4)", Noise(batch_size=4)),
])
def test_noise_is_read_from_text_and_its_label_rebuilds_it(text, expected):
    model = noise(text)
    assert model.label == expected.label
    assert noise(model.label).label == model.label


def test_no_noise_is_none_and_bad_text_is_refused():
    assert noise(None) is None and noise(0.0) is None and noise("0") is None
    with pytest.raises(ValueError, match="unknown noise 'banana'"):
        noise("banana")
    with pytest.raises(ValueError, match="unknown parameter 'sigma'"):
        noise("noise(sigma=1)")
    with pytest.raises(ValueError, match="expected a standard deviation"):
        noise("1,x")


def test_noise_must_fit_the_landscape():
    land = sim.landscape("himmelblau")
    with pytest.raises(ValueError, match="3 entries but himmelblau is 2-dimensional"):
        Noise((1, 2, 3)).check(land)
    with pytest.raises(ValueError, match="cov is 1×1"):
        Noise(cov=[[1.0]]).check(land)
    with pytest.raises(ValueError, match="finite-sum landscape"):
        iterate(land, "gd", steps=3, noise=Noise(batch_size=4))
    with pytest.raises(ValueError, match="compiled engine runs exact gradients only"):
        iterate(land, "gd", steps=3, noise=1.0, engine="compiled")


def test_gaussian_draws_have_the_given_covariance():
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    land = sim.landscape("quadratic", condition=3.0)
    oracle = NoisyGradients(land, Noise(cov=cov), seed=4)
    x = np.zeros((40_000, 2)) + [1.0, -2.0]
    draws = oracle.grad(x) - land.grad(x)
    n = len(draws)
    assert np.all(np.abs(draws.mean(axis=0)) < Z * np.sqrt(np.diag(cov) / n))
    sample = np.cov(draws.T)
    # the standard error of a sample covariance entry: √((Σii·Σjj + Σij²)/n)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(sample - cov) < Z * se)
    np.testing.assert_allclose(Noise(cov=cov).covariance(land, x[:3]), np.broadcast_to(cov, (3, 2, 2)), atol=1e-14)
    np.testing.assert_allclose(Noise((0.5, 2.0)).covariance(land, x[0]), np.diag([0.25, 4.0]))


def test_singular_covariance_is_allowed():
    """A rank-one Σ has no Cholesky factor; the eigenvector factor still reproduces it."""
    cov = np.array([[1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(Noise(cov=cov).covariance(sim.landscape("booth"), [0.0, 0.0]), cov, atol=1e-15)


# -- runs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(sim.OPTIMIZERS))
def test_every_optimizer_runs_with_noise_reproducibly(name):
    # alternating GDA needs two players: a game whose field is that quadratic's gradient turned
    land = sim.landscape("quadratic-game") if name == "alt-gda" else sim.landscape("quadratic", condition=4.0)
    opt = sim.optimizer(name, lr=0.01)
    # near the minimum, where the noise is as large as the gradient: it then flips the signs sign-based
    # steps (Lion) take, which noise far smaller than the gradient leaves unchanged
    x0 = np.array([[0.1, 0.1]] * 3)
    a = iterate(land, opt, x0, 20, noise=0.3, seed=11)
    b = iterate(land, opt, x0, 20, noise=0.3, seed=11)
    c = iterate(land, opt, x0, 20, noise=0.3, seed=12)
    exact = iterate(land, opt, x0, 20)
    assert np.array_equal(a.x, b.x)  # bit for bit with the same seed
    assert not np.array_equal(a.x, c.x)
    assert not np.allclose(a.x[-1], exact.x[-1], rtol=0, atol=1e-6)
    assert not np.array_equal(a.x[-1, 0], a.x[-1, 1])  # members draw their own noise
    assert a.stats["noise"] == "noise(scale=0.3)" and a.stats["seed"] == 11
    np.testing.assert_array_equal(a.f, land.value(a.x))  # recorded losses are the exact f, not noisy


def test_zero_noise_is_the_exact_run():
    land = sim.landscape("rosenbrock")
    assert np.array_equal(iterate(land, "adam(lr=0.01)", steps=30, noise=0.0).x, iterate(land, "adam(lr=0.01)", steps=30).x)


def test_one_noisy_gd_step_is_unbiased():
    land = sim.landscape("himmelblau")
    x0 = np.array([1.0, 1.0])
    n, lr, sigma = 20_000, 0.01, 3.0
    run = iterate(land, sim.optimizer("gd", lr=lr), np.broadcast_to(x0, (n, 2)), 1, noise=sigma, seed=2)
    exact = x0 - lr * land.grad(x0)
    assert np.all(np.abs(run.x[1].mean(axis=0) - exact) < Z * lr * sigma / np.sqrt(n))
    assert abs(run.x[1].var(axis=0, ddof=1) / (lr * sigma) ** 2 - 1).max() < var_tolerance(n)


@pytest.mark.parametrize("lr", [0.5, 1.0, 1.5])
def test_sgd_stationary_variance_is_the_exact_ar1_value_not_the_sde_one(lr):
    """x_{k+1} = (1 − lr·a)x_k − lr·σξ: stationary variance lr·σ²/(a(2 − lr·a)) (theory §5);
    the first-order SDE predicts lr·σ²/(2a), which the test must be able to tell apart."""
    a, sigma, n = 1.0, 1.0, 20_000
    run = iterate(ou(a), sim.optimizer("gd", lr=lr), np.zeros((n, 1)), 200, noise=sigma, seed=3)
    exact = lr * sigma**2 / (a * (2 - lr * a))
    sde_value = lr * sigma**2 / (2 * a)
    sample = run.x[-1, :, 0].var(ddof=1)
    assert abs(sample / exact - 1) < var_tolerance(n)
    assert abs(sde_value / exact - 1) > 3 * var_tolerance(n)  # the oracle discriminates


def test_sgd_mean_follows_the_discrete_factor_not_the_exponential():
    """E[x_k] = (1 − lr·a)^k·x₀ for SGD; the SDE's mean x₀·e^{−a·t} differs at lr·a = 0.5."""
    a, lr, x0, n = 1.0, 0.5, 10.0, 20_000
    run = iterate(ou(a), sim.optimizer("gd", lr=lr), np.full((n, 1), x0), 6, noise=1.0, seed=5)
    k = np.arange(7)
    discrete = (1 - lr * a) ** k * x0
    var = lr**2 * (1 - (1 - lr * a) ** (2 * k)) / (1 - (1 - lr * a) ** 2)  # exact variance of x_k
    se = np.sqrt(var / n)
    mean = run.x[:, :, 0].mean(axis=1)
    assert np.all(np.abs(mean - discrete) <= Z * se + 1e-12)
    assert np.all(np.abs(mean[1:] - x0 * np.exp(-a * lr * k[1:])) > 10 * se[1:])


def test_heavy_ball_stationary_covariance_solves_the_discrete_lyapunov_equation():
    """Heavy ball with noise is a linear recursion z' = M z + c ξ in z = (b, x): its stationary
    covariance P = M P Mᵀ + c cᵀ, and as lr → 0 the Gibbs value T/λ, T = lr·σ²/(2(1 − μ))."""
    from scipy.linalg import solve_discrete_lyapunov

    a, lr, mu, sigma, n = 2.0, 0.1, 0.6, 1.0, 20_000
    M = np.array([[mu, a], [-lr * mu, 1 - lr * a]])
    c = np.array([sigma, -lr * sigma])
    P = solve_discrete_lyapunov(M, np.outer(c, c))
    run = iterate(ou(a), sim.optimizer("momentum", lr=lr, momentum=mu), np.zeros((n, 1)), 400, noise=sigma, seed=8)
    assert abs(run.x[-1, :, 0].var(ddof=1) / P[1, 1] - 1) < var_tolerance(n)
    gibbs = lr * sigma**2 / (2 * (1 - mu) * a)
    # the closed form lr·σ²(1 + μ)/(a(1 − μ)(2(1 + μ) − lr·a)): Gibbs' T/a times 2(1 + μ)/(2(1 + μ) − lr·a)
    assert P[1, 1] / gibbs == pytest.approx(2 * (1 + mu) / (2 * (1 + mu) - lr * a), rel=1e-10)


def test_dampened_momentum_runs_at_temperature_lr_one_minus_tau_sigma2_over_two_one_minus_mu():
    from simulate.analysis.ensembles import temperature

    a, lr, n = 1.0, 0.01, 20_000
    opt = sim.optimizer("sgd", lr=lr, momentum=0.5, dampening=0.5)
    run = iterate(ou(a), opt, np.zeros((n, 1)), 1500, noise=1.0, seed=3)
    T = temperature(opt, Noise(1.0))
    assert T == pytest.approx(0.005)
    # stationary variance T/a up to O(lr·a) = 1 %, plus sampling error
    assert abs(run.x[-1, :, 0].var(ddof=1) / (T / a) - 1) < var_tolerance(n) + 0.02


# -- minibatches on finite-sum landscapes ------------------------------------------------------------
def clt_se(products: np.ndarray) -> np.ndarray:
    """Standard error of the mean of each column of ``products`` (draws × entries), by the CLT."""
    return products.std(axis=0, ddof=1) / np.sqrt(len(products))


def test_a_full_batch_is_the_exact_gradient():
    land = sim.landscape("logistic(samples=40)")
    noisy = iterate(land, "gd(lr=1.0)", steps=30, noise=Noise(batch_size=40), seed=1)
    np.testing.assert_allclose(noisy.x, iterate(land, "gd(lr=1.0)", steps=30).x, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("spec", ["least-squares(samples=30)", "logistic(samples=30, seed=2)"])
def test_minibatch_gradients_are_unbiased_with_the_stated_covariance(spec, replacement):
    """Σ_B = c·C with c = (N − b)/(b(N − 1)) without replacement, 1/b with: checked against 40 000
    draws at one point, with CLT standard errors of the sample moments."""
    land = sim.landscape(spec)
    model = Noise(batch_size=7, replacement=replacement)
    x = np.broadcast_to([0.3, -0.8], (40_000, 2))
    draws = NoisyGradients(land, model, seed=5).grad(x) - land.grad(x[0])
    assert np.all(np.abs(draws.mean(axis=0)) < Z * clt_se(draws))
    products = np.einsum("ni,nj->nij", draws, draws).reshape(len(draws), -1)
    sigma = model.covariance(land, x[0])
    assert np.all(np.abs(products.mean(axis=0) - sigma.ravel()) < Z * clt_se(products))
    # the stated factor, from the per-sample gradients directly
    G = land.per_sample_grads(x[0])
    C = np.cov(G.T, bias=True)
    c = 1 / 7 if replacement else (30 - 7) / (7 * 29)
    np.testing.assert_allclose(sigma, c * C, rtol=1e-12)


def test_proximal_steps_solve_with_the_minibatch_loss():
    """Implicit Euler on a drawn minibatch loss: x⁺ + lr·∇f_B(x⁺) = x. Its Newton solve needs the
    minibatch's Hessian; with the full one it fails at large lr. On least squares ∇f_B is affine,
    so the step is the linear solve (I + lr·H_B)x⁺ = x − lr·(∇f_B(x) − H_B·x), checked against the run."""
    from simulate.solvers.noise import NoisyGradients as Oracle

    land = sim.landscape("least-squares")
    n, lr = 200, 2.0
    run = iterate(land, sim.optimizer("proximal", lr=lr), np.zeros((n, 2)), 20, batch_size=1, seed=4)
    assert np.all(run.diverged_at < 0)
    oracle = Oracle(land, Noise(batch_size=1), seed=4)  # the same draws, step by step
    x = np.zeros((n, 2))
    for k in range(1, 21):
        oracle.begin_step(k)
        H = oracle.hess(x)  # constant in x for least squares: the minibatch's Hessian
        offset = oracle.grad(x) - (H @ x[..., None])[..., 0]  # ∇f_B(z) = H_B·z + offset for every z
        x = np.linalg.solve(np.eye(2) + lr * H, (x - lr * offset)[..., None])[..., 0]
    np.testing.assert_allclose(run.x[-1], x, rtol=1e-9, atol=1e-11)


def test_spawned_streams_are_distinct():
    from simulate.solvers.discrete import spawned_seed

    keys = [(0,), (0, 0), (1,), (0, 1), (1, 0)]
    assert len({spawned_seed(s, *k) for s in (0, 1, 2**32) for k in keys}) == 15


def test_minibatch_draws_are_distinct_samples_without_replacement():
    rng = np.random.default_rng(0)
    idx = Noise(batch_size=5)._indices(8, (1000,), rng)
    assert idx.shape == (1000, 5)
    assert all(len(set(row)) == 5 for row in idx)
    counts = np.bincount(idx.ravel(), minlength=8)  # each sample is drawn with probability 5/8
    assert np.all(np.abs(counts - 1000 * 5 / 8) < Z * np.sqrt(1000 * 5 / 8 * 3 / 8))


def test_minibatch_runs_are_reproducible_and_fit_only_finite_sums():
    land = sim.landscape("least-squares")
    a = iterate(land, "momentum(lr=0.1, momentum=0.9)", np.zeros((3, 2)), 50, batch_size=4, seed=3)
    b = iterate(land, "momentum(lr=0.1, momentum=0.9)", np.zeros((3, 2)), 50, noise=Noise(batch_size=4), seed=3)
    assert np.array_equal(a.x, b.x) and a.stats["noise"] == "noise(batch_size=4)"
    with pytest.raises(ValueError, match="larger than the 64 samples"):
        iterate(land, "gd", steps=2, batch_size=65)
    iterate(land, "gd", steps=2, noise=Noise(batch_size=65, replacement=True))  # with replacement it may


def test_minibatch_sgd_and_its_sde_take_the_same_first_step_moments():
    """The SME is built so that one Euler–Maruyama step at dt = lr has SGD's first two moments:
    mean x₀ − lr·∇f(x₀), covariance lr²·Σ_B(x₀). Both are checked against these exact values."""
    from simulate.solvers.sdes import sde

    land = sim.landscape("least-squares(samples=20)")
    lr, n, x0 = 0.3, 40_000, np.array([-1.0, 2.0])
    model = Noise(batch_size=3)
    mean = x0 - lr * land.grad(x0)
    cov = lr**2 * model.covariance(land, x0)
    starts = np.broadcast_to(x0, (n, 2))
    for run in (iterate(land, sim.optimizer("gd", lr=lr), starts, 1, noise=model, seed=6),
                sde(land, sim.optimizer("gd", lr=lr), starts, 1, noise=model, seed=6, substeps=1)):
        step = run.x[1]
        assert np.all(np.abs(step.mean(axis=0) - mean) < Z * clt_se(step))
        c = step - mean
        products = np.einsum("ni,nj->nij", c, c).reshape(n, -1)
        assert np.all(np.abs(products.mean(axis=0) - cov.ravel()) < Z * clt_se(products))
    with pytest.raises(ValueError, match="heun scheme needs additive noise"):
        sde(land, "gd", steps=1, noise=model, scheme="heun")


def test_minibatch_sgd_near_the_minimum_has_the_lyapunov_covariance():
    """Near w* the minibatch noise is nearly constant, Σ_B(w*), so SGD is close to the linear
    recursion whose stationary covariance solves P = M P Mᵀ + lr²Σ_B(w*), M = I − lr·H (Mandt et al.
    2017). Σ_B varies with x, so agreement is to a few per cent of the variance scale, plus
    sampling error."""
    from scipy.linalg import solve_discrete_lyapunov

    land = sim.landscape("least-squares(samples=32)")
    w, lr, n = land.minima[0], 0.1, 4000
    model = Noise(batch_size=4)
    P = solve_discrete_lyapunov(np.eye(2) - lr * land.hess(w), lr**2 * model.covariance(land, w))
    run = iterate(land, sim.optimizer("gd", lr=lr), np.broadcast_to(w, (n, 2)), 400, noise=model, seed=7)
    c = run.x[-1] - w
    products = np.einsum("ni,nj->nij", c, c).reshape(n, -1)
    error = np.abs(products.mean(axis=0) - P.ravel())
    assert np.all(error < Z * clt_se(products) + 0.05 * np.max(np.diag(P)))


def test_a_path_axis_repeats_noisy_runs_and_their_mean_loss_is_the_stationary_one():
    """``path=1:n:n`` gives n independent paths per configuration, one vectorized run. On f = x²/2
    with noise σ, SGD's stationary x ~ N(0, v), v = lr·σ²/(2 − lr), so E[f] = v/2 with standard
    error v/√(2n) per lr."""
    from simulate.analysis.sweep import sweep

    n, lrs = 4000, np.array([0.2, 0.8, 1.4])
    result = sweep(ou(1.0), "gd", {"lr": lrs, "path": np.arange(n)}, start=[0.0], steps=150, noise=1.0, seed=2,
                   track=())
    loss = result.metrics["final_loss"][0]  # (lr, path)
    assert loss.shape == (3, n) and len(np.unique(loss[0])) == n
    v = lrs / (2 - lrs)
    assert np.all(np.abs(loss.mean(axis=1) - v / 2) < Z * v / np.sqrt(2 * n))
    with pytest.raises(ValueError, match="repeats noisy runs"):
        sweep(ou(1.0), "gd", ["path=1:3:3"], start=[0.0], steps=3)


def test_with_noise_a_cell_reaches_the_minimum_of_its_well():
    """A noisy last point is never within 1% of the box of a minimum; with noise the default
    ``near`` is half the distance between the closest minima, so each point counts for its well."""
    from simulate.analysis.sweep import default_near, sweep

    land = sim.landscape("double-well")
    assert default_near(land) == pytest.approx(0.04) and default_near(land, noisy=True) == pytest.approx(1.0)
    result = sweep(land, "gd(lr=0.05)", {"path": np.arange(50)}, start=[-1.0, 0.0], steps=100, noise=0.5, track=())
    minimum = result.metrics["minimum"][0]
    assert np.all(minimum == 0)  # T = 0.006: every path stays in the left well, and is counted there
