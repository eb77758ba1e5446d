"""The real typer app, driven with CliRunner in temporary folders; files checked, not just exit codes."""

import numpy as np
import pytest
from typer.testing import CliRunner

import simulate as sim
from simulate.cli.app import app
from simulate.analysis.sweep import sweep

runner = CliRunner()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args):
    return runner.invoke(app, list(args))


def test_plot_without_arguments_writes_the_default_figure(in_tmp):
    result = invoke("plot")
    assert result.exit_code == 0, result.output
    out = in_tmp / "simulate_plot.png"
    assert result.output.split() == ["simulate_plot.png", "simulate_plot.run.toml"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    # the figure and its run record, no temporary files left
    assert sorted(p.name for p in in_tmp.iterdir()) == ["simulate_plot.png", "simulate_plot.run.toml"]


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_format_follows_the_extension(in_tmp, suffix, magic):
    result = invoke("plot", "-l", "booth", "-o", "gd(lr=0.05)", "--steps", "20", "--out", f"fig{suffix}")
    assert result.exit_code == 0, result.output
    assert (in_tmp / f"fig{suffix}").read_bytes().startswith(magic)


def test_data_holds_the_numbers_behind_the_figure(in_tmp):
    result = invoke("plot", "-l", "quadratic(eigenvalues=(1, 10))", "-o", "gd", "-o", "adam:lr=0.05",
                    "--lr", "0.02", "--start=-1,1.5", "--start", "0.5,0.5", "--steps", "30",
                    "--out", "q.png", "--data", "q.npz")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["q.png", "q.npz", "q.json", "q.run.toml"]
    data = np.load(in_tmp / "q.npz")
    assert list(data["labels"]) == ["gd(lr=0.02)", "adam(lr=0.05)"]  # --lr only where the spec is silent
    assert data["iterates_x_0"].shape == (31, 2, 2) and data["flow_x_1"].shape == (31, 2, 2)
    np.testing.assert_array_equal(data["start"], [[-1, 1.5], [0.5, 0.5]])
    # the exported iterates are exactly GD's, and the exported distance is |iterates − flow|
    land = sim.landscape("quadratic", eigenvalues=(1, 10))
    np.testing.assert_array_equal(data["iterates_x_0"], sim.iterate(land, sim.optimizer("gd", lr=0.02), data["start"], 30).x)
    np.testing.assert_allclose(data["distance_1"], np.linalg.norm(data["iterates_x_1"] - data["flow_x_1"], axis=-1))
    np.testing.assert_allclose(data["iterates_t_0"], 0.02 * np.arange(31))
    assert data["iterates_status_0"].shape == (2,) and data["iterates_time_per_step_1"] == 0.05


def test_list_names_every_landscape_and_optimizer():
    result = invoke("list")
    assert result.exit_code == 0
    for name in [*sim.LANDSCAPES, *sim.GAMES, *sim.OPTIMIZERS]:
        assert f"  {name} " in result.output


@pytest.mark.parametrize("args, message", [
    (["-l", "himmelblu"], "Did you mean 'himmelblau'"),
    (["-o", "adma"], "Did you mean 'adam'"),
    (["-o", "gd(lr=-0.1)"], "lr must be > 0"),
    (["-o", "gd(lr=nan)"], "lr must be finite"),
    (["--lr", "nan"], "lr: must be a positive finite number"),
    (["-o", "adam(betas=(0.9, 1.5))"], r"betas[1] must be in [0, 1)"),
    (["-o", "adam(lr=__import__('os'))"], "only numbers"),
    (["--start", "1,2,3"], "3 coordinates"),
    (["--start", "1,abc"], "comma-separated numbers"),
    (["--out", "missing-folder/fig.png"], "does not exist"),
    (["--out", "fig.txt"], "extension must be one of .png, .svg, .pdf"),
    (["--data", "numbers.csv"], "extension must be one of .npz"),
])
def test_bad_input_exits_nonzero_with_one_line_and_writes_nothing(in_tmp, args, message):
    result = invoke("plot", "--steps", "5", *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert list(in_tmp.iterdir()) == []


@pytest.mark.parametrize("out, message", [
    ("/proc/fig.png", "no file can be created in folder '/proc'"),  # not even by root (CI runs as root)
    ("a" * 300 + ".png", "its name is 304 bytes, at most"),  # found before the work, not by the OS after it
    ("a-file/fig.png", "'a-file' is not a folder"),
])
def test_unwritable_folder_is_refused_before_any_work(in_tmp, out, message):
    (in_tmp / "a-file").write_text("")
    result = invoke("plot", "--out", out)
    assert result.exit_code == 2 and message in result.output and ".simulate" not in result.output
    assert [p.name for p in in_tmp.iterdir()] == ["a-file"]  # and the probe left nothing behind


def test_the_writability_probe_leaves_nothing(in_tmp):
    from simulate.io.files import check_output_path

    assert check_output_path(in_tmp / "fig.png") == in_tmp / "fig.png"
    assert list(in_tmp.iterdir()) == []


def test_an_existing_figure_survives_a_failed_run(in_tmp):
    (in_tmp / "fig.png").write_bytes(b"old")
    result = invoke("plot", "-o", "nosuch", "--out", "fig.png")
    assert result.exit_code == 2
    assert (in_tmp / "fig.png").read_bytes() == b"old"


def test_python_m_simulate_runs_the_same_app():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "simulate", "list"], capture_output=True, text=True, check=True)
    assert "himmelblau" in out.stdout and "adagrad" in out.stdout


def test_lr_replaces_the_defaults_learning_rates_and_is_never_silently_ignored(in_tmp):
    result = invoke("plot", "--lr", "0.003", "--steps", "3", "--data", "d.npz")
    assert result.exit_code == 0, result.output
    assert list(np.load(in_tmp / "d.npz")["labels"]) == ["gd(lr=0.003)", "momentum(lr=0.003, momentum=0.8)", "adam(lr=0.003)"]
    result = invoke("plot", "-o", "gd(lr=0.1)", "--lr", "0.003", "--steps", "3", "--out", "x.png")
    assert result.exit_code == 2 and "would not be used" in result.output
    assert not (in_tmp / "x.png").exists()


def test_empty_coordinate_is_refused(in_tmp):
    result = invoke("plot", "--start", "1,,2")
    assert result.exit_code == 2 and "comma-separated numbers" in result.output


@pytest.mark.parametrize("args, message", [
    (["plot", "--steps", "-1"], "--steps"),
    (["plot", "--steps", "abc"], "--steps"),
    (["plot", "--method", "Euler"], "must be one of RK45"),
    (["order", "-f", "modifed"], "Did you mean 'modified'?"),
    (["plot", "--flow", "exakt"], "Did you mean 'exact'?"),
    (["plot", "--nope"], "No such option: --nope"),
    (["bogus"], "No such command 'bogus'"),
])
def test_usage_errors_are_one_line_from_the_entry_point(args, message, capsys):
    from simulate.cli.app import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_version_and_bare_command(capsys):
    from simulate.cli.app import main

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"simulate {sim.__version__}"
    assert main([]) == 0 and "plot" in capsys.readouterr().out


def test_data_records_a_landscape_label_that_rebuilds_it(in_tmp):
    spec = "quadratic(eigenvalues=(1, 20), angle=0.5)"
    assert invoke("plot", "-l", spec, "--steps", "3", "--data", "d.npz").exit_code == 0
    assert str(np.load(in_tmp / "d.npz")["landscape"]) == spec


def test_plot_with_noise_draws_an_ensemble_with_its_sde(in_tmp):
    result = invoke("plot", "-l", "double-well", "-o", "gd(lr=0.05)", "-o", "momentum(lr=0.05, momentum=0.5)",
                    "--start=-1,0.5", "--steps", "40", "--noise", "2", "--paths", "25", "--scheme", "heun",
                    "--flow", "modified", "--data", "e.npz")
    assert result.exit_code == 0, result.output
    data = np.load(in_tmp / "e.npz")
    assert data["iterates_x_0"].shape == data["sde_x_1"].shape == (41, 25, 2)
    assert str(data["noise"]) == "noise(scale=2)" and str(data["scheme"]) == "heun" and str(data["drift"]) == "modified"
    summary = __import__("json").loads((in_tmp / "e.json").read_text())
    assert summary["optimizers"][0]["temperature"] == pytest.approx(0.1)


def test_minibatch_plot_on_a_finite_sum(in_tmp):
    result = invoke("plot", "-l", "logistic", "-o", "gd(lr=2)", "--steps", "20", "--batch-size", "8", "--paths", "12",
                    "--data", "m.npz")
    assert result.exit_code == 0, result.output
    data = np.load(in_tmp / "m.npz")
    assert str(data["noise"]) == "noise(batch_size=8)" and data["sde_x_0"].shape == (21, 12, 2)


@pytest.mark.parametrize("args, message", [
    (["--noise", "0.5", "--batch-size", "4"], "batch_size needs a finite-sum landscape"),
    (["--noise", "0.5,0.2,0.1"], "scale has 3 entries"),
    (["--noise", "banana"], "unknown noise 'banana'"),
    (["--noise", "-1"], "scale must be >= 0"),
    (["--noise", "1", "--random-starts", "3"], "one start"),
    (["--noise", "1", "--sharpness"], "exact gradients"),
    (["--noise", "1", "--scheme", "milstein"], "must be one of euler-maruyama, heun"),
    (["-l", "least-squares", "--batch-size", "4", "--scheme", "heun"], "heun scheme needs additive noise"),
])
def test_bad_noise_options_are_refused_and_nothing_is_written(in_tmp, args, message):
    result = invoke("plot", "--steps", "5", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert list(in_tmp.iterdir()) == []


def test_sweep_with_noise_records_it(in_tmp):
    result = invoke("sweep", "-l", "least-squares", "-o", "gd", "--vary", "lr=0.05:0.5:4", "--steps", "30",
                    "--batch-size", "2", "--data", "s.npz")
    assert result.exit_code == 0, result.output
    record = (in_tmp / "simulate_sweep.run.toml").read_text()
    assert "batch_size = 2" in record
    loss = np.load(in_tmp / "s.npz")["final_loss"]
    exact = sweep("least-squares", "gd", ["lr=0.05:0.5:4"], steps=30).metrics["final_loss"]
    noisy = sweep("least-squares", "gd", ["lr=0.05:0.5:4"], steps=30, batch_size=2)
    assert np.array_equal(noisy.metrics["final_loss"], loss)  # the CLI is the library call, same seed
    assert np.all(np.isfinite(loss)) and not np.allclose(loss, exact)
    assert noisy.stats["noise"] == "noise(batch_size=2)" and noisy.stats["seed"] == 0
    from simulate.viz.figures import sweep_figure
    assert "one path per cell with batch 2 (seed 0)" in sweep_figure(noisy).axes[0].get_title()


@pytest.mark.parametrize("args, message", [
    (["plot", "--paths", "50"], "--paths act on stochastic gradients"),
    (["plot", "--scheme", "heun", "--substeps", "3"], "--scheme, --substeps act on stochastic gradients"),
    (["sweep", "--seed", "5"], "--seed act on stochastic gradients"),
    (["plot", "-l", "least-squares", "--noise", "noise(batch_size=4)", "--batch-size", "8"], "give one"),
    (["plot", "--noise", "-1"], "error: noise: scale must be >= 0"),
])
def test_options_that_need_noise_are_not_silently_ignored(in_tmp, args, message):
    result = invoke(*args, "--steps", "5")
    assert result.exit_code != 0 and message in result.output
    assert "noise: noise:" not in result.output
    assert list(in_tmp.iterdir()) == []


def test_overflowing_noise_is_divergence_as_data(in_tmp):
    result = invoke("plot", "-l", "double-well", "--noise", "1e200", "--steps", "20", "--start=-1,0", "--paths", "10",
                    "--data", "o.npz")
    assert result.exit_code == 0, result.output
    data = np.load(in_tmp / "o.npz")
    assert np.all(data["iterates_diverged_at_0"] >= 0) and np.all(data["iterates_count_0"][1:] == 0)
    summary = __import__("json").loads((in_tmp / "o.json").read_text())
    assert summary["optimizers"][0]["temperature"] is None  # lr·σ²/2 overflows: no Gibbs law is claimed


def test_a_caption_is_printed_under_any_figure(in_tmp):
    from simulate.viz.figures import add_caption
    from matplotlib.figure import Figure

    fig = add_caption(Figure(), "Look at the slope: it is one.")
    assert fig._supxlabel.get_text() == "Look at the slope: it is one."
    result = invoke("sweep", "-l", "booth", "-o", "gd", "--vary", "lr=0.01:0.1:3", "--steps", "5",
                    "--caption", "a caption")
    assert result.exit_code == 0, result.output
    assert 'caption = "a caption"' in (in_tmp / "simulate_sweep.run.toml").read_text()


def test_demo_and_gallery_say_a_results_warnings_in_one_line_like_the_other_commands(capsys):
    # demo and gallery run plot/order/sweep underneath: their FlowWarning is a "warning:" line on stderr,
    # not Python's two lines with a source line; other warnings are not said
    import warnings

    from simulate.analysis.experiment import FlowWarning
    from simulate.cli.app import _saying

    def produce():
        warnings.warn("sam's exact flow was not integrated to the end", FlowWarning)
        warnings.warn("an internal detail", UserWarning)
        return ["written"]

    assert _saying(produce) == ["written"]
    err = capsys.readouterr().err
    assert err == "warning: sam's exact flow was not integrated to the end\n"
