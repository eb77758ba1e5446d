"""The classroom demos: each renders through its command, and the fact its caption states holds in
its own data (the same options, written with --data and read back)."""

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from simulate.cli.app import main
from simulate.cli.demos import DEMOS, demo_options, gallery_readme
from simulate.cli.runs import COMMANDS, validate
from helpers import demo_data

GALLERY = Path(__file__).resolve().parents[1] / "gallery"


class Rendered(Mapping):
    """Every demo with its data, name -> (written paths), each rendered when first asked for (once
    per session: conftest's demo_written), so that a test waits only for the demos it reads."""

    def __init__(self, written):
        self._written = written

    def __getitem__(self, name):
        if name not in DEMOS:
            raise KeyError(name)
        return self._written(name)

    def __iter__(self):
        return iter(DEMOS)

    def __len__(self):
        return len(DEMOS)


@pytest.fixture(scope="module")
def rendered(demo_written):
    return Rendered(demo_written)


def data(rendered, name):
    return demo_data(rendered[name])


def summary(rendered, name):
    return json.loads(next(p for p in rendered[name] if str(p).endswith(".json")).read_text())


def test_every_demo_is_options_of_a_command_with_a_caption():
    for d in DEMOS.values():
        assert d.command in COMMANDS and len(d.caption) > 80 and d.summary
        validate(d.command, demo_options(d.name)[1])  # the options are that command's, and valid


@pytest.mark.parametrize("name", DEMOS)  # one test per demo: the two workers render them side by side
def test_a_demo_writes_its_figure_and_a_record_that_reruns(rendered, name):
    written = rendered[name]
    png = next(p for p in written if str(p).endswith(".png"))
    assert png.read_bytes()[:4] == b"\x89PNG", name
    record = next(p for p in written if str(p).endswith(".run.toml"))
    assert f'caption = "{DEMOS[name].caption[:30]}' in record.read_text(), name


def test_optimizers_and_flows_gd_ends_with_its_flow(rendered):
    a = data(rendered, "optimizers-and-flows")
    assert a["distance_0"][-1] < 1e-9 and np.max(a["distance_0"]) > 1e-3  # an O(lr) detour, the same end


def test_gd_is_euler_slopes_are_one_two_three(rendered):
    orders = {ladder["flow"]: ladder["observed_order"] for ladder in summary(rendered, "gd-is-euler")["ladders"]}
    assert orders == pytest.approx({"exact": 1.0, "modified": 2.0, "modified2": 3.0}, abs=0.05)


def test_stability_atlas_runs_diverge_where_the_boundary_says(rendered):
    a = data(rendered, "stability-atlas")
    x, beta = a["lr_lambda"][:, None], a["momentum"][None, :]
    for i, bound in enumerate((2 * (1 + beta), (2 + 2 * beta) / (1 + 2 * beta))):
        analytic, measured, left = a["analytic"][i], a["measured"][i], a["elsewhere"][i]
        margin = 0.1 * bound  # the grid's resolution around the line
        inside, outside = x < bound - margin, x > bound + margin
        assert np.all(analytic[inside] < 1) and np.all(analytic[outside] >= 1)
        assert np.all(measured[inside] < 1) and not left[inside].any()  # every run inside converges here
        # outside, none does: each diverges (inf), leaves for another minimum, or stalls (a rate of
        # 0.999 or more shrinks the distance by at most a third in the 400 steps)
        assert np.all(~np.isfinite(measured[outside]) | (measured[outside] >= 0.999) | left[outside])


def test_lr_sweep_gd_diverges_at_its_threshold_heavy_ball_below_its_own(rendered):
    a = data(rendered, "lr-sweep")
    lr, lam = a["axis_0_lr"], float(a["reference_sharpness"])
    first = {m: lr[a["diverged"][i].astype(bool)].min() for i, m in enumerate(a["members"])}
    assert lr[lr < first["gd"]].max() <= 2 / lam < first["gd"]  # the first grid lr above 2/λmax
    assert first["momentum"] < 2 * (1 + 0.9) / lam and first["nesterov"] < (2 + 1.8) / (1 + 1.8) / lam


def test_basins_momentum_moves_them(rendered):
    minimum = data(rendered, "basins")["minimum"]
    assert set(np.unique(minimum[0])) == {0, 1, 2, 3}  # GD reaches all four minima
    assert np.mean(minimum[0] != minimum[1]) > 0.1  # heavy ball changes the minimum of many starts


def test_edge_of_stability_gd_settles_below_two_over_lr_rk4_stays_sharp(rendered):
    a = data(rendered, "edge-of-stability")
    limit = 2 / 0.15
    sharp = [float(a[f"sharpness_{i}"][-1]) for i in range(3)]  # gd, heun, rk4
    end = a["flow_x_0"][-1]
    flow_sharpness = float(end @ end)  # a² + b², the Hessian's top eigenvalue on the curve ab = 1
    assert float(a["flow_dense_f_0"][-1]) < 1e-8 and flow_sharpness > limit  # a minimum GD cannot stay at
    assert flow_sharpness == pytest.approx(16.0, abs=0.1)  # as the caption says
    assert sharp[0] < limit and sharp[1] < limit and sharp[2] == pytest.approx(flow_sharpness, abs=0.05)  # RK4 stays with the flow


def test_adam_runs_on_the_diagonal_while_gd_kills_the_stiff_coordinate(rendered):
    a = data(rendered, "adam-sign-descent")
    adam, gd = a["iterates_x_0"], a["iterates_x_1"]
    assert np.max(np.abs(adam[:, 0] - adam[:, 1])) < 1e-6 and adam[-1, 0] < 0.2
    assert abs(gd[20, 1]) < 1e-5 < gd[20, 0] and gd[-1, 0] > 0.4


def test_adam_eps_and_betas(rendered):
    a = data(rendered, "adam-eps-and-betas")
    default, short, large_eps = (a[f"iterates_x_{i}"] for i in range(3))
    assert np.max(np.abs(default[:100, 0] - default[:100, 1])) < 1e-6  # the diagonal, while far from the minimum
    # the defaults settle; β₂ = 0.9 chatters at a steady amplitude near 4e-4 and does not
    assert np.max(np.abs(default[350:])) < 1e-5
    chatter = [np.max(np.abs(short[lo:lo + 50])) for lo in (300, 350)]
    assert 2e-4 < chatter[1] < 1e-3 and chatter[1] > 0.9 * chatter[0]
    # ε = 1: GD-like, the stiff y goes first and the flat x crawls (at step 200: 0.31 against 0.016)
    assert large_eps[200, 0] > 10 * abs(default[200, 0]) and abs(large_eps[200, 1]) < 0.1 * large_eps[200, 0]


def test_which_minimum_momentum_reaches_the_deep_valley(rendered):
    from simulate.landscapes import landscape

    a = data(rendered, "which-minimum")
    land = landscape(DEMOS["which-minimum"].options["landscape"])
    start = float(land.default_start[0])
    minima = land.minima[:, 0]
    nearest = minima[np.argmin(np.where(minima < start, start - minima, np.inf))]  # the first pit downhill
    values = land.value(land.minima)
    valleys = minima[values <= values.min() + 1e-12]  # ±2.7: the deep valley on the start's side
    deepest = valleys[np.argmin(abs(valleys - start))]
    assert abs(nearest - 8.1) < 0.05 and abs(deepest - 2.7) < 0.05  # what the caption says they are
    assert a["iterates_x_0"][-1, 0] == pytest.approx(nearest, abs=1e-3)  # GD: the nearest pit
    assert a["flow_x_0"][-1, 0] == pytest.approx(nearest, abs=1e-3)      # so does the gradient flow
    assert a["iterates_x_1"][-1, 0] == pytest.approx(deepest, abs=1e-2)  # heavy ball: the deep valley


def ladder_orders(rendered, name) -> dict:
    return {ladder["flow"]: ladder for ladder in summary(rendered, name)["ladders"]}


def test_momentum_two_limits_slopes(rendered):
    ladders = ladder_orders(rendered, "momentum-two-limits")
    assert ladders["oscillator"]["scaling"] == "sqrt" and ladders["oscillator"]["observed_order"] == pytest.approx(1, abs=0.05)
    assert ladders["limit"]["scaling"] == "fixed" and 0.9 < ladders["limit"]["last_pair_order"] < 1.1


def test_adam_two_limits_slopes(rendered):
    ladders = ladder_orders(rendered, "adam-two-limits")
    assert ladders["ema"]["observed_order"] == pytest.approx(1, abs=0.02)
    slopes = ladders["limit"]["local_slopes"]
    assert np.all(np.diff(slopes) > 0) and slopes[-1] > 0.9  # rising to 1 as the memory shortens


def test_nesterov_ode_gap_shrinks_like_root_s_energy_falls_f_does_not(rendered):
    a = data(rendered, "nesterov-ode")
    gaps = [float(np.nanmax(a[f"distance_{i}"])) for i in range(3)]
    slope = np.polyfit(np.log([1, 0.25, 0.05]), np.log(gaps), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.07)
    for i in range(3):
        energy, f = a[f"flow_energy_{i}"], a[f"flow_dense_f_{i}"]
        assert np.all(np.diff(energy) <= 1e-12 * energy[0]) and np.any(np.diff(f) > 0)


def test_heavy_ball_vs_nesterov_only_the_high_resolution_odes_differ(rendered):
    import simulate as sim

    a = data(rendered, "heavy-ball-vs-nesterov")
    high = [float(np.nanmax(a[f"distance_{i}"])) for i in range(2)]
    assert float(np.max(np.linalg.norm(a["flow_dense_x_0"] - a["flow_dense_x_1"], axis=-1))) > 0.3  # they differ
    low = sim.plot("quadratic(eigenvalues=(1, 100))", list(a["specs"]), [1.0, 1.0], 100, flow="oscillator").experiment
    np.testing.assert_array_equal(low.entries[0].flow.x, low.entries[1].flow.x)  # one ODE for both
    for i, e in enumerate(low.entries):
        assert high[i] < 0.75 * float(np.nanmax(e.comparison.distance))  # each tracked better at high resolution
    # Nesterov's correction damps the stiff direction: its high-resolution flow overshoots far less
    assert a["flow_dense_x_1"][:, 1].min() > 0.5 * a["flow_dense_x_0"][:, 1].min()


def test_balancing_gd_shrinks_a2_minus_b2_by_its_exact_factor(rendered):
    a = data(rendered, "balancing")
    gd, rk4, flow = a["iterates_x_0"], a["iterates_x_1"], a["flow_x_0"]
    D = gd[:, 0] ** 2 - gd[:, 1] ** 2
    r = gd[:, 0] * gd[:, 1] - 1
    np.testing.assert_allclose(D[1:], D[:-1] * (1 - 0.05**2 * r[:-1] ** 2), rtol=1e-12)
    D0 = 2.8**2 - 3.5**2
    assert D[-1] - D0 > 0.8  # GD ends more balanced
    assert abs(rk4[-1, 0] ** 2 - rk4[-1, 1] ** 2 - D0) < 0.05 and abs(flow[-1, 0] ** 2 - flow[-1, 1] ** 2 - D0) < 1e-6


def test_sgd_langevin_temperatures_and_escapes(rendered):
    gd, hb = summary(rendered, "sgd-langevin")["optimizers"]
    assert gd["temperature"] == pytest.approx(0.1) and hb["temperature"] == pytest.approx(0.2)
    assert gd["iterates"]["escaped"] == 0 and gd["kramers_time"] > 1e4
    assert hb["iterates"]["escaped"] > 10 and hb["sde"]["escaped"] > 10


def test_gda_spiral_rates_are_exact(rendered):
    a = data(rendered, "gda-spiral")
    r2 = {i: np.sum(a[f"iterates_x_{i}"] ** 2, axis=-1) for i in range(4)}
    np.testing.assert_allclose(r2[0][1:] / r2[0][:-1], 1.04, rtol=1e-13)  # simultaneous GDA: out
    z = a["iterates_x_1"]
    np.testing.assert_allclose(z[:, 0] ** 2 + z[:, 1] ** 2 - 0.2 * z[:, 0] * z[:, 1], 1.0, rtol=1e-13)  # alternating
    np.testing.assert_allclose(r2[2][1:] / r2[2][:-1], 1 - 0.04 + 0.0016, rtol=1e-13)  # extragradient: in
    assert r2[3][-1] < 0.5  # optimistic GD converges too
    np.testing.assert_allclose(np.sum(a["flow_x_0"] ** 2, axis=-1), 1.0, rtol=1e-6)  # the flow circles


def test_gan_penalty_verdicts(rendered):
    from simulate.analysis.sweep import VERDICTS

    a = data(rendered, "gan-penalty")
    code = {name: i for i, name in enumerate(VERDICTS)}
    members = list(a["members"])
    lr, gamma = a["axis_0_lr"], a["axis_1_gamma"]
    verdict = {m: a["verdict"][i] for i, m in enumerate(members)}  # (lr, gamma)
    assert gamma[0] == 0 and a["criterion"] == "distance <= 1e-06"
    ends = {code["converged"], code["converging"]}
    for m in ("gd", "alt-gda"):  # no penalty: a rotation, which neither damps
        assert not ends & set(verdict[m][:, 0].tolist()), m
    assert set(verdict["alt-gda"][:, 0].tolist()) <= {code["cycling"], code["spiralling out"]}
    for m in ("extragradient", "optimistic"):  # these converge even so
        assert code["converged"] in verdict[m][:, 0]
    damped = (gamma >= 0.3)[None, :] & ((lr >= 0.1) & (lr <= 0.75))[:, None]
    for m in members:  # with the penalty every method gets there
        assert np.all(verdict[m][damped] == code["converged"]), m
    assert np.all(a["distance"][:, damped] <= 1e-6)


def test_demo_cli_lists_and_suggests(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DEMOS)
    assert main(["demo", "edge-of-stabilty"]) != 0
    assert "Did you mean 'edge-of-stability'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["demo", "basins", "--list", "--animate", "z.gif"]) == 2  # not silently dropped
    assert "--list only lists them" in capsys.readouterr().err
    assert main(["demo", "--dpi", "30"]) == 2 and "give its NAME" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_committed_gallery_is_what_simulate_gallery_writes():
    import tomllib

    assert (GALLERY / "README.md").read_text() == gallery_readme("gallery")
    for name in DEMOS:
        assert (GALLERY / f"{name}.png").stat().st_size < 400_000, name
        record = tomllib.loads((GALLERY / f"{name}.run.toml").read_text())
        command, options = demo_options(name, f"{name}.png", dpi=70)
        assert record["run"]["command"] == command, name
        expected = validate(command, options)  # the demo as it is now, with every default filled in
        assert {k: v for k, v in record["config"].items() if k != "out"} == \
               {k: v for k, v in expected.items() if k != "out" and v is not None}, f"{name}: run simulate gallery"


def test_show_without_a_display_says_so_after_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["demo", "which-minimum", "--show", "--dpi", "30"]) != 0
    assert "no window can be opened here" in capsys.readouterr().err
    assert (tmp_path / "which-minimum.png").exists()  # the figure is written all the same


def test_gallery_replaces_an_earlier_gallery_but_not_other_files(tmp_path, monkeypatch):
    import simulate.cli.demos as demos

    rendered = []
    monkeypatch.setattr(demos, "demo", lambda name, out, **kw: rendered.append(name) or [Path(out)])
    (tmp_path / "README.md").write_text("my notes")
    (tmp_path / "basins.png").write_bytes(b"mine")
    with pytest.raises(ValueError, match="not a gallery .* pass --overwrite"):
        demos.gallery(tmp_path)
    assert rendered == [] and (tmp_path / "README.md").read_text() == "my notes"
    demos.gallery(tmp_path, overwrite=True)
    assert rendered == list(DEMOS) and (tmp_path / "README.md").read_text() == gallery_readme(tmp_path)
    demos.gallery(tmp_path)  # now an earlier gallery: replaced without asking
    assert rendered == 2 * list(DEMOS)
