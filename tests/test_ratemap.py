"""Rate maps: the update's own matrix against the closed forms, the boundaries of theory, and the
same map measured by a sweep on a quadratic and near a minimum of a non-quadratic landscape."""

import numpy as np
import pytest
from matplotlib.figure import Figure

import simulate as sim
from simulate.cli.app import main
from simulate.viz.heatmaps import plot_rate_map
from simulate.analysis.ratemap import critical_momentum, linear_rate, rate_map, step_matrix


def test_heavy_ball_matrix_is_polyaks():
    lr, mu, lam = 0.1, 0.5, 2.0
    # torch's heavy ball on (b, x): b' = μb + λx, x' = x − lr·b'.
    expected = np.array([[mu, lam], [-lr * mu, 1 - lr * lam]])
    np.testing.assert_allclose(step_matrix(sim.optimizer("momentum", lr=lr, momentum=mu), lam), expected, rtol=1e-15)


@pytest.mark.parametrize("lr_lambda", [0.1, 0.7, 1.0, 1.5, 1.9, 2.3])
def test_gd_rate_is_one_minus_lr_lambda(lr_lambda):
    assert linear_rate(sim.optimizer("gd", lr=lr_lambda / 4), 4.0) == pytest.approx(abs(1 - lr_lambda), abs=1e-14)


def test_heavy_ball_rate_closed_forms():
    h = np.linspace(0.01, 3.9, 200)[:, None]
    mu = np.linspace(0.0, 0.95, 20)[None, :]
    rate = linear_rate(sim.optimizer("momentum", lr=h, momentum=mu), 1.0)
    # Complex eigenvalues (underdamped, (1 + μ − h)² < 4μ): modulus √μ exactly.
    under = (1 + mu - h) ** 2 < 4 * mu
    np.testing.assert_allclose(rate[under], np.broadcast_to(np.sqrt(mu), rate.shape)[under], rtol=1e-12)
    # Real ones: the larger root of z² − (1 + μ − h)z + μ in modulus.
    disc = np.sqrt(np.maximum((1 + mu - h) ** 2 - 4 * mu, 0))
    real = np.maximum(abs(1 + mu - h + disc), abs(1 + mu - h - disc)) / 2
    np.testing.assert_allclose(rate[~under], real[~under], rtol=1e-10)
    # Stable exactly below 2(1 + μ); fastest at critical damping β = (1 − √h)².
    clear = np.abs(h - 2 * (1 + mu)) > 1e-9  # on the boundary itself the rate is 1 up to rounding
    assert np.all(((rate < 1) == (h < 2 * (1 + mu)))[clear])
    for lr_lambda in (0.04, 0.25, 0.5):
        betas = np.linspace(0, 0.99, 2000)
        r = linear_rate(sim.optimizer("momentum", lr=lr_lambda, momentum=betas), 1.0)
        assert betas[np.argmin(r)] == pytest.approx(critical_momentum(lr_lambda), abs=1e-3)


def test_nesterov_is_stable_below_its_threshold():
    h = np.linspace(0.01, 2.5, 300)[:, None]
    mu = np.linspace(0.05, 0.95, 19)[None, :]
    rate = linear_rate(sim.optimizer("nesterov", lr=h, momentum=mu), 1.0)
    boundary = (2 + 2 * mu) / (1 + 2 * mu)
    step = h[1, 0] - h[0, 0]
    clear = np.abs(h - boundary) > step  # away from the boundary's own cell
    assert np.all(((rate < 1) == (h < boundary))[clear])


def test_adaptive_methods_have_no_rate_map():
    with pytest.raises(ValueError, match="not linear in its state"):
        linear_rate(sim.optimizer("adam"))
    with pytest.raises(ValueError, match="changes every step"):
        linear_rate(sim.optimizer("nag-c"))


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
@pytest.mark.parametrize("landscape", ["quadratic(eigenvalues=(1, 10))", "himmelblau"])
def test_measured_rates_match_the_analytic_map(name, landscape):
    r = rate_map(name, "lr_lambda=0.05:4.5:30", "momentum=0.05:0.95:12", landscape=landscape, steps=400)
    stable = r.analytic < 0.999
    measured = np.isfinite(r.measured)
    assert measured[stable].mean() > 0.97  # nearly every stable cell yields a rate
    err = np.abs(r.measured - r.analytic)[stable & measured]
    assert err.mean() < 0.01 and err.max() < 0.1
    slow = stable & measured & (r.analytic > 0.95)  # long windows: tight agreement
    assert slow.sum() > 10 and np.abs(r.measured - r.analytic)[slow].max() < 0.01
    if landscape.startswith("quadratic"):  # linear dynamics: unstable cells diverge
        assert np.all(np.isinf(r.measured[r.analytic > 1.05]))


def test_rate_map_plot_draws_rates_and_the_boundary():
    r = rate_map("momentum", "lr_lambda=0.1:4:20", "momentum=0:0.9:10")
    ax = plot_rate_map(r, "analytic", Figure().add_subplot())
    drawn = ax.collections[0].get_array()
    shown = ~np.ma.getmaskarray(drawn).reshape(10, 20).T
    np.testing.assert_array_equal(shown, r.analytic < 1)
    np.testing.assert_allclose(np.ma.getdata(drawn).reshape(10, 20).T[shown], r.analytic[shown])
    boundary = ax.lines[0]
    np.testing.assert_allclose(boundary.get_xdata(), 2 * (1 + r.y.values))
    with pytest.raises(ValueError, match="no measured rates"):
        plot_rate_map(r, "measured", Figure().add_subplot())


def test_rate_map_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["rate-map", "-o", "momentum", "--lr-lambda", "0.1:4:5", "--vary", "momentum=0.1,0.5",
                 "-l", "booth", "--steps", "50", "--data", "r.npz"]) == 0
    arrays = np.load(tmp_path / "r.npz")
    assert arrays["analytic"].shape == (1, 5, 2) and arrays["measured"].shape == (1, 5, 2)
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 11
    assert main(["rate-map", "-o", "adam", "--lr-lambda", "0.1:4:5", "--vary", "beta1=0.5,0.9", "--out", "a.png"]) == 2
    assert "not linear" in capsys.readouterr().err
    # optimizers without momentum: the default vertical axis becomes weight decay
    assert main(["rate-map", "-o", "gd", "-o", "heun", "--lr-lambda", "0.1:4:5", "--data", "g.npz", "--out", "g.png"]) == 0
    assert str(np.load(tmp_path / "g.npz")["y_name"]) == "weight_decay"


def test_weight_decay_moves_the_drawn_boundary_where_the_map_changes():
    r = rate_map("gd", "lr_lambda=0.05:4:80", "weight_decay=0:3:7")
    ax = plot_rate_map(r, "analytic", Figure().add_subplot())
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), 2 / (1 + r.y.values))  # lr(λ + wd) < 2 with λ = 1
    for j, wd in enumerate(r.y.values):  # the map itself: stable exactly left of the line
        stable = r.analytic[:, j] < 1
        clear = np.abs(r.x.values - 2 / (1 + wd)) > 0.06
        assert np.all((stable == (r.x.values < 2 / (1 + wd)))[clear])


def test_rate_map_axis_errors_say_what_to_vary():
    with pytest.raises(ValueError, match="lr is on the horizontal axis"):
        rate_map("gd", "lr_lambda=0.1:1:5", "lr=0.1:1:5")
    with pytest.raises(ValueError, match=r"heun has no hyperparameter 'momentum'.*--vary weight_decay"):
        rate_map("heun", "lr_lambda=0.1:1:5", "momentum=0:0.9:5")
    with pytest.raises(ValueError, match="Did you mean 'momentum'"):
        rate_map("momentum", "lr_lambda=0.1:1:5", "momentun=0:0.9:5")


def test_rate_map_refuses_a_spec_that_sets_a_swept_hyperparameter_and_says_why_adam_has_none():
    with pytest.raises(ValueError, match="sets momentum and the axis momentum sweeps it"):
        rate_map("momentum(momentum=0.5)", "lr_lambda=0.1:3:5", "momentum=0:0.9:4")
    with pytest.raises(ValueError, match="lr·λmax axis supplies"):
        rate_map("momentum(lr=0.1)", "lr_lambda=0.1:3:5", "momentum=0:0.9:4")
    with pytest.raises(ValueError, match="not linear"):  # before any complaint about its axes
        rate_map("adam", "lr_lambda=0.1:3:5", "momentum=0:0.9:4")


def test_rate_map_legend_states_the_boundary_of_the_drawn_grid():
    damped = plot_rate_map(rate_map("momentum", "lr_lambda=0.01:10:12:log", "dampening=0:0.9:6"),
                           ax=Figure().add_subplot())
    assert "2(1+μ)/(1−τ)" in [t.get_text() for t in damped.get_legend().get_texts()][-1]
    plain = plot_rate_map(rate_map("sgd", "lr_lambda=0.01:4:12", "momentum=0:0.9:6"), ax=Figure().add_subplot())
    assert any(t.get_text().endswith("< 2(1+μ)") for t in plain.get_legend().get_texts())  # sgd's default μ is 0
