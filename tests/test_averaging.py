"""Weight averaging (EMA of the iterates): exact values, divergence as data, the classroom fact on
L = x·y, the drawn overlay (read back from the artists), the CLI's data, records and reruns, and
the refusals."""

import json
import sys

import numpy as np
import pytest
from PIL import Image

import simulate as sim
from simulate.viz.animation import AnimationScene
from simulate.analysis.averaging import LOOP_ABOVE_COLUMNS, average, ema, running_mean
from simulate.cli.app import main
from simulate.analysis.experiment import Experiment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def direct_ema(z: np.ndarray, beta: float) -> np.ndarray:
    """z̄_k = (1 − β)·Σ_{j=1..k} β^{k−j}·z_j + β^k·z_0, term by term (a double loop)."""
    out = np.empty_like(z)
    for k in range(len(z)):
        total = beta**k * z[0]
        for j in range(1, k + 1):
            total = total + (1 - beta) * beta ** (k - j) * z[j]
        out[k] = total
    return out


# -- exact values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_ema_of_simultaneous_gda_on_the_bilinear_game_is_the_closed_form(beta):
    """GDA on L = x·y is the linear map z_{k+1} = (I − lr·M) z_k, M = [[0, 1], [−1, 0]]."""
    lr, steps = 0.1, 150
    starts = np.array([[1.0, 0.0], [0.3, -0.7]])
    run = sim.iterate("bilinear", sim.optimizer("gd", lr=lr), starts, steps)
    step = np.eye(2) - lr * np.array([[0.0, 1.0], [-1.0, 0.0]])
    powers = np.stack([np.linalg.matrix_power(step, k) for k in range(steps + 1)])
    np.testing.assert_allclose(run.x, np.einsum("kij,bj->kbi", powers, starts), rtol=0, atol=1e-13)
    got = ema(run.x, beta)
    for b in range(2):
        want = direct_ema(run.x[:, b], beta)
        scale = np.abs(run.x[:, b]).max()  # |z| grows by √(1 + lr²) per step: ≈ 2.1 at the end
        np.testing.assert_allclose(got[:, b], want, rtol=0, atol=2e-14 * scale)
    assert np.abs(got[-1] - run.x[-1]).max() > 0.1  # the average is not the iterates


def test_beta_zero_gives_the_iterates_bit_for_bit_and_the_uniform_mean_is_the_prefix_mean():
    run = sim.iterate("quadratic(eigenvalues=(1, 10))", sim.optimizer("gd", lr=np.array([0.05, 0.25])), None, 60)
    assert run.diverged.tolist() == [False, True]
    zero = ema(run.x, 0.0)
    assert zero is not run.x and zero.tobytes() == run.x.tobytes()  # NaN after the divergence included
    assert average(run, 0).x.tobytes() == run.x.tobytes()
    mean = running_mean(run.x[:, 0])
    np.testing.assert_allclose(mean, [run.x[:k + 1, 0].mean(axis=0) for k in range(61)], rtol=1e-14, atol=1e-16)
    rec = average(run, None)
    assert rec.stats == {"average": "mean"} and np.all(np.isnan(rec.x[int(run.diverged_at[1]) + 1:, 1]))


def test_the_loop_over_time_and_lfilter_agree_bit_for_bit_and_beta_may_differ_per_member(rng):
    x = rng.normal(size=(300, LOOP_ABOVE_COLUMNS, 2))  # 2 × 256 columns: the loop over time
    x[100:, 5] = np.nan
    wide = ema(x, 0.97)
    for j in (0, 5, 200):  # one member: lfilter
        assert ema(x[:, j], 0.97).tobytes() == wide[:, j].tobytes()
    assert np.all(np.isnan(wide[100:, 5])) and np.all(np.isfinite(wide[:100, 5]))
    assert np.all(np.isfinite(np.delete(wide, 5, axis=1)))  # the NaN member poisons no other
    betas = np.array([0.0, 0.5, 0.9])
    per = ema(x[:, :3], betas)
    for j, b in enumerate(betas):
        assert per[:, j].tobytes() == ema(x[:, j], b).tobytes()


def test_nan_after_divergence_per_member_never_clipped():
    """One member diverges (lr = 0.25 > 2/10), the other converges: the average stops with it."""
    run = sim.iterate("quadratic(eigenvalues=(1, 10))", sim.optimizer("gd", lr=np.array([0.05, 0.25])), None, 500)
    k = int(run.diverged_at[1])
    assert 0 < k < 500 and run.diverged_at[0] == -1
    avg = average(run, 0.9)
    assert avg.kind == "average" and avg.stats == {"average": "ema", "beta": 0.9}
    np.testing.assert_array_equal(avg.diverged_at, run.diverged_at)
    assert avg.status.tolist() == [sim.solvers.trajectory.CONVERGED, sim.solvers.trajectory.DIVERGED]
    assert "diverged at step" in avg.message[1] and "average stops there" in avg.message[1]
    assert np.all(np.isnan(avg.x[k + 1:, 1])) and np.all(np.isnan(avg.f[k + 1:, 1]))
    assert np.all(np.isfinite(avg.x[:k + 1, 1]))  # up to the value that triggered it, kept as it is
    assert np.abs(avg.x[k, 1]).max() > 10  # not clipped: it carries (1 − β)·z_k of the escaping value
    np.testing.assert_allclose(avg.x[:, 1], direct_ema(run.x[:, 1], 0.9), rtol=1e-13)  # NaN where the iterates are
    assert avg.x[:, 0].tobytes() == average(sim.iterate("quadratic(eigenvalues=(1, 10))", sim.optimizer("gd", lr=0.05),
                                                         None, 500), 0.9).x.tobytes()  # the other member is untouched
    np.testing.assert_array_equal(avg.f[:, 0], run.landscape.value(avg.x[:, 0]))
    np.testing.assert_array_equal(avg.t, run.t)


# -- the classroom fact (theory §8 item 11) ---------------------------------------------------------------
def test_alternating_gda_orbits_while_its_ema_sits_near_the_centre():
    """Alternating GDA on L = x·y is z_{k+1} = A z_k, A = [[1, −lr], [lr, 1 − lr²]]: det 1, eigenvalues
    λ = e^{±iω} with cos ω = 1 − lr²/2. With z_k = 2Re(u λ^k), the EMA is
    z̄_k = 2Re(u·(G λ^k + H β^k)), G = (1 − β)λ/(λ − β), H = 1 − G: the orbit is scaled by
    |G| = (1 − β)/|1 − β e^{−iω}| ≈ 0.050 for lr = 0.2, β = 0.99, and the start fades as β^k."""
    lr, beta, steps = 0.2, 0.99, 500
    run = sim.iterate("bilinear", sim.optimizer("alt-gda", lr=lr), None, steps)
    z = run.x
    A = np.array([[1.0, -lr], [lr, 1 - lr**2]])
    np.testing.assert_allclose(z[1:], z[:-1] @ A.T, rtol=0, atol=1e-15)
    radius = np.linalg.norm(z, axis=-1)
    assert 0.95 < radius.min() and radius.max() < 1.055  # measured 0.953 … 1.054: an orbit at distance ≈ 1
    zbar = average(run, beta).x
    lam, vecs = np.linalg.eig(A)
    u = np.linalg.solve(vecs, z[0])[0] * vecs[:, 0]
    G = (1 - beta) * lam[0] / (lam[0] - beta)
    k = np.arange(steps + 1)[:, None]
    closed = 2 * np.real(u * (G * lam[0] ** k + (1 - G) * beta**k))
    np.testing.assert_allclose(zbar, closed, rtol=0, atol=1e-13)
    np.testing.assert_allclose(abs(G), (1 - beta) / abs(1 - beta * np.exp(-1j * np.arccos(1 - lr**2 / 2))), rtol=1e-12)
    assert 0.050 < abs(G) < 0.051
    # the bound the closed form gives: |z̄_k| ≤ (|G| + β^k |H|)·(the orbit's semi-major axis)
    semi_major = 2 * np.linalg.svd(np.column_stack([u.real, u.imag]), compute_uv=False)[0]
    bound = (abs(G) + beta ** k[:, 0] * abs(1 - G)) * semi_major
    ends = np.linalg.norm(zbar, axis=-1)
    assert np.all(ends <= bound * (1 + 1e-12))
    assert ends[-1] < 0.06 and ends[-1] < 0.06 * radius[-1]  # measured 0.0498 against an orbit at 0.967
    assert ends[-100:].max() < 0.07 and ends[100] > 0.3  # it got there by averaging, not from the start


# -- the overlay on the figure ---------------------------------------------------------------------------
def _labelled(ax, label):
    found = [line for line in ax.lines if line.get_label() == label]
    assert len(found) == 1, [line.get_label() for line in ax.lines]
    return found[0]


def test_the_overlay_draws_the_average_in_both_panels_of_a_game():
    result = sim.plot("bilinear", ["alt-gda(lr=0.2)", "gd(lr=0.2)"], steps=300, ema=0.99)
    exp = result.experiment
    assert exp.ema == 0.99 and [a.kind for a in exp.averages] == ["average", "average"]
    ax_path, ax_dist = result.figure.axes[:2]
    for i, (name, label) in enumerate([("alt-gda", "alt-gda(lr=0.2)"), ("gd", "gd(lr=0.2)")]):
        avg, run = exp.averages[i], exp.entries[i].iterates
        np.testing.assert_array_equal(avg.x, ema(run.x, 0.99))
        stop = slice(None) if run.diverged_at < 0 else slice(0, int(run.diverged_at))
        path = _labelled(ax_path, f"{label} EMA(0.99)")
        np.testing.assert_array_equal(path.get_xydata(), avg.x[stop])
        assert path.get_linestyle() == "--" and path.get_color() == _labelled(ax_path, label).get_color()
        dist = _labelled(ax_dist, f"{name} EMA(0.99)")
        np.testing.assert_allclose(dist.get_ydata(), np.linalg.norm(avg.x[stop], axis=-1), rtol=1e-15)
        np.testing.assert_array_equal(dist.get_xdata(), run.t[stop])
        assert dist.get_linestyle() == "--"
    assert exp.entries[1].iterates.diverged_at > 0  # simultaneous GDA spirals out: its average stops with it
    legend = [t.get_text() for t in ax_path.get_legend().get_texts()]
    assert any(t.startswith("EMA of the iterates") for t in legend)
    plain = sim.plot("bilinear", ["alt-gda(lr=0.2)"], steps=30)
    assert plain.experiment.averages == () and not any("EMA" in line.get_label() for line in plain.figure.axes[0].lines)


def test_the_overlay_on_a_loss_draws_f_minus_fstar_and_follows_the_3d_view_and_the_animation():
    result = sim.plot("himmelblau", ["gd(lr=0.01)"], [0.0, 0.0], 40, ema=0.9)
    avg = result.experiment.averages[0]
    loss = _labelled(result.figure.axes[1], "gd EMA(0.9)")
    np.testing.assert_allclose(loss.get_ydata(), sim.landscape("himmelblau").value(avg.x) - 0.0, rtol=1e-15)
    assert loss.get_linestyle() == "--" and result.figure.axes[1].get_yscale() == "log"  # f − f* with f* = 0
    three_d = sim.plot("himmelblau", ["gd(lr=0.01)"], [0.0, 0.0], 40, ema=0.9, three_d=True).figure.axes[0]
    lifted = _labelled(three_d, "gd(lr=0.01) EMA(0.9)")
    xs, ys, _ = lifted.get_data_3d()
    np.testing.assert_array_equal(np.column_stack([xs, ys]), avg.x)
    scene = AnimationScene.for_result(result.experiment, frames=41)
    artists = scene.update(25)
    dashed = [a for a in artists if hasattr(a, "get_linestyle") and a.get_linestyle() == "--"]
    assert len(dashed) == 1
    np.testing.assert_array_equal(np.column_stack(dashed[0].get_data()), avg.x[:26])


# -- data, records, reruns --------------------------------------------------------------------------------
def test_cli_writes_the_average_records_the_option_and_reruns_to_the_same_data_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["plot", "-l", "bilinear", "-o", "alt-gda", "--ema", "0.99", "--out", "f.png", "--data", "d.npz"]
    assert main(args) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.split() == ["f.png", "d.npz", "d.json", "f.run.toml", "d.run.toml"]
    data = np.load("d.npz")
    assert float(data["ema"]) == 0.99
    np.testing.assert_array_equal(data["average_x_0"], ema(data["iterates_x_0"], 0.99))
    np.testing.assert_array_equal(data["average_t_0"], data["iterates_t_0"])
    np.testing.assert_array_equal(data["average_f_0"], sim.landscape("bilinear").value(data["average_x_0"]))
    summary = json.loads((tmp_path / "d.json").read_text())
    assert summary["ema"] == 0.99
    assert summary["optimizers"][0]["members"][0]["average"]["final_x"] == data["average_x_0"][-1].tolist()
    record = tomllib.loads((tmp_path / "f.run.toml").read_text())
    assert record["config"]["ema"] == 0.99
    loaded = Experiment.load("d.npz")  # round trip: the same arrays, averages included
    assert loaded.ema == 0.99
    again = loaded.arrays()
    assert sorted(again) == sorted(data.files)
    for key in data.files:
        np.testing.assert_array_equal(again[key], data[key], err_msg=key)
    assert main(["rerun", "f.run.toml", "--out-dir", "again"]) == 0, capsys.readouterr().err
    for name in ("d.npz", "d.json"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    with Image.open("f.png") as a, Image.open("again/f.png") as b:
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))  # pixels; metadata says rerun
    assert main(["plot", "-l", "bilinear", "-o", "alt-gda", "--out", "g.png", "--data", "g.npz"]) == 0
    plain = np.load("g.npz")
    assert "ema" not in plain.files and not any(k.startswith("average_") for k in plain.files)


def test_a_config_file_sets_ema_and_python_run_takes_it(tmp_path):
    (tmp_path / "c.toml").write_text('landscape = "bilinear"\noptimizer = ["alt-gda"]\nsteps = 20\nema = 0\n')
    assert main(["plot", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "c.png"),
                 "--data", str(tmp_path / "c.npz")]) == 0
    data = np.load(tmp_path / "c.npz")
    assert float(data["ema"]) == 0.0 and data["average_x_0"].tobytes() == data["iterates_x_0"].tobytes()
    sim.run("plot", {"landscape": "bilinear", "optimizer": ["alt-gda"], "steps": 20, "ema": 0.5,
                     "out": str(tmp_path / "p.png"), "data": str(tmp_path / "p.npz")})
    np.testing.assert_array_equal(np.load(tmp_path / "p.npz")["average_x_0"], ema(data["iterates_x_0"], 0.5))


# -- refusals ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta, message", [
    (1.0, r"ema: β must be in \[0, 1\), got 1.0; .*β = 1 never leaves the start"),
    (-0.1, r"ema: β must be in \[0, 1\), got -0.1; .*β < 0 flips sign"),
    (1.5, r"β > 1 grows without bound"),
    (float("nan"), r"ema: β must be a finite number in \[0, 1\), got nan"),
    (float("inf"), r"ema: β must be a finite number"),
    (True, r"ema: β must be a number in \[0, 1\), got True \(a bool\)"),
    ("0.9", r"ema: β must be a number in \[0, 1\)"),
    ([0.5, 1.0], r"ema: every β must be in \[0, 1\)"),
])
def test_bad_betas_are_refused_with_the_reason(beta, message):
    with pytest.raises(ValueError, match=message):
        sim.plot("bilinear", ["alt-gda"], steps=3, ema=beta)
    with pytest.raises(ValueError, match=message):
        ema(np.zeros((4, 2)), beta)


def test_shapes_and_combinations_that_are_not_supported_say_so(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"ema: β of shape \(3,\) does not broadcast against the batch \(2,\)"):
        ema(np.zeros((5, 2, 2)), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"expected iterates \(T, \*batch, d\)"):
        ema(np.zeros(5), 0.5)
    with pytest.raises(ValueError, match="ema: .*with noise .* averaging it is not supported"):
        sim.plot("double-well", ["gd(lr=0.05)"], [-1.0, 0.5], 10, noise=0.5, paths=5, ema=0.9)
    monkeypatch.chdir(tmp_path)
    for args, message in [(["--ema", "1"], "error: ema: β must be in [0, 1), got 1.0"),
                          (["--ema", "nan"], "error: ema: β must be a finite number in [0, 1), got nan"),
                          (["--ema", "0.9", "--noise", "0.1"], "error: ema: the averaged path is drawn on the figure of "
                                                               "exact gradients")]:
        assert main(["plot", "--steps", "3", "--out", "x.png", *args]) == 2
        assert capsys.readouterr().err.startswith(message)
        assert list(tmp_path.iterdir()) == []  # nothing written
    (tmp_path / "bad.toml").write_text("ema = true\n")
    assert main(["plot", "--config", "bad.toml", "--out", "x.png"]) == 2
    assert "bad.toml:1: ema: expected a number β in [0, 1), got True" in capsys.readouterr().err


def test_python_names():
    assert sim.ema is ema and sim.average is average and sim.running_mean is running_mean
    with pytest.raises(ValueError, match="average takes a run's record"):
        average(np.zeros((3, 2)), 0.5)
