"""Animations: which steps the frames show, what each frame draws (checked on the artists, no
file needed), and the GIF written by plot and demo (frame count, atomic write, clear errors)."""

import numpy as np
import pytest
from PIL import Image

import simulate as sim
from simulate.viz.animation import MAX_FRAMES, TRAIL, AnimationScene, animate, animation_frames
from simulate.cli.app import main


def test_frames_cover_short_runs_whole_and_subsample_long_ones():
    np.testing.assert_array_equal(animation_frames(10), np.arange(11))
    long = animation_frames(10_000)
    assert len(long) == MAX_FRAMES and long[0] == 0 and long[-1] == 10_000 and np.all(np.diff(long) > 0)


@pytest.fixture(scope="module")
def experiment():
    return sim.plot("himmelblau", ["gd(lr=0.01)", "momentum(lr=0.01, momentum=0.8)"],
                    np.array([[0.0, 0.0], [-1.0, 1.0]]), 60).experiment


def test_each_frame_draws_the_runs_up_to_its_step(experiment):
    scene = AnimationScene.for_result(experiment, frames=20)
    gd = experiment.entries[0]
    for i in (0, 7, len(scene.steps) - 1):
        k = int(scene.steps[i])
        artists = scene.update(i)
        trails = [a for a in artists if hasattr(a, "get_segments")][:2]  # gd's, one per start
        flows = [a for a in artists if hasattr(a, "get_xdata") and a.get_linestyle() == "-"][:2]
        heads = [a for a in artists if hasattr(a, "get_xdata") and a.get_marker() == "o"][0]
        np.testing.assert_array_equal(np.column_stack(heads.get_data()), gd.iterates.x[k])  # both starts at step k
        for j in range(2):
            segments = trails[j].get_segments()
            assert len(segments) == min(k, TRAIL)
            if segments:
                np.testing.assert_array_equal(segments[-1][1], gd.iterates.x[k, j])
                alphas = trails[j].get_colors()[:, 3]
                assert np.all(np.diff(alphas) > 0)  # older segments fainter
            xs, ys = flows[j].get_data()
            np.testing.assert_array_equal(xs, gd.flow.x[:k * gd.flow_every + 1, j, 0])  # the flow up to t_k
        assert f"step {k}," in artists[0].get_text() and f"t = {k * 0.01:.4g}" in artists[0].get_text()  # one clock


def test_gif_has_one_frame_per_step_shown_and_is_written_atomically(tmp_path, experiment):
    path = animate(experiment, tmp_path / "a.gif", frames=15)
    with Image.open(path) as im:
        assert im.n_frames == len(animation_frames(60, 15))
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert not np.array_equal(first, last)  # something moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]  # no temporary left behind


def test_ensembles_animate_as_clouds(tmp_path):
    ens = sim.plot("double-well", ["gd(lr=0.05)"], [-1.0, 0.5], 30, noise=2.0, paths=40).experiment
    scene = AnimationScene.for_result(ens)
    dots = [a for a in scene.update(10) if hasattr(a, "get_marker") and a.get_marker() == "."][0]
    np.testing.assert_array_equal(np.column_stack(dots.get_data()), ens.entries[0].iterates.x[10])


def test_mp4_without_ffmpeg_says_so_before_any_work(tmp_path, experiment, monkeypatch, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="needs an ffmpeg binary"):
        animate(experiment, tmp_path / "a.mp4")
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--steps", "3", "--out", "b.png", "--animate", "b.mp4"]) == 2
    assert "needs an ffmpeg binary" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_failing_animation_leaves_every_output_as_it_was(tmp_path, monkeypatch, capsys):
    """The figure, the data and the record are written together with the animation or not at all."""
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ffmpeg").write_text("#!/bin/sh\necho 'broken encoder' >&2\nexit 1\n")
    (fake / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    (tmp_path / "p.png").write_bytes(b"the user's figure")
    args = ["plot", "-l", "booth", "--steps", "3", "--out", "p.png", "--data", "p.npz", "--animate", "p.mp4", "--overwrite"]
    assert main(args) == 2
    assert "ffmpeg could not write the .mp4 (exit 1: broken encoder)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "p.png"]
    assert (tmp_path / "p.png").read_bytes() == b"the user's figure"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the frames render
    monkeypatch.setattr("simulate.viz.animation.animate", interrupted)
    assert main([*args[:-2], "p.gif", "--overwrite"]) == 130  # aborted, as the shell says for Ctrl-C
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "p.png"]


def test_plot_and_demo_write_animations(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "-l", "booth", "-o", "gd(lr=0.05)", "--steps", "20", "--animate", "b.gif"]) == 0
    assert "b.gif" in capsys.readouterr().out.split()
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 21
    assert main(["demo", "which-minimum", "--animate", "w.gif"]) == 0
    assert (tmp_path / "w.gif").stat().st_size > 10_000
    assert main(["demo", "gd-is-euler", "--animate", "o.gif"]) != 0
    assert "does not animate" in capsys.readouterr().err
    assert main(["plot", "--animate", "x.avi"]) != 0
    assert "must be one of .gif, .mp4" in capsys.readouterr().err


# -- the 3-D view ----------------------------------------------------------------------------------
def test_three_d_view_lifts_the_paths_onto_the_surface():
    from simulate.viz.plotting import Height

    result = sim.plot("himmelblau", ["gd(lr=0.01)"], [0.0, 0.0], 30, three_d=True)
    ax = result.figure.axes[0]
    assert ax.name == "3d"
    land = result.experiment.landscape
    height = Height(land)
    iterates = result.experiment.entries[0].iterates
    drawn = [np.array(line.get_data_3d()) for line in ax.lines]
    expected = np.array([iterates.x[:, 0], iterates.x[:, 1], height(iterates.f)])
    assert any(d.shape == expected.shape and np.allclose(d, expected) for d in drawn)
    assert height(land.value(land.minima)).min() == pytest.approx(np.log10(height.eps))  # minima at the bottom


def test_three_d_view_refusals(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="needs a 2-D landscape"):
        sim.plot("rosenbrock(dim=3)", ["gd"], steps=2, three_d=True)
    with pytest.raises(ValueError, match="3-D view belong"):
        sim.plot("himmelblau", ["gd"], steps=2, three_d=True, noise=1.0)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "-l", "booth", "--steps", "5", "--3d", "--out", "b.png"]) == 0
    assert main(["demo", "lr-sweep", "--3d"]) != 0
    err = capsys.readouterr().err
    assert "lr-sweep does not have a 3-D view" in err and "sgd-langevin" not in err and "which-minimum" not in err


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_mp4_with_ffmpeg(tmp_path, experiment):
    import subprocess

    path = animate(experiment, tmp_path / "a.mp4", frames=12)
    probe = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    assert probe.returncode == 0 and path.stat().st_size > 1000
    frames = subprocess.run(["ffmpeg", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert "frame=   12" in frames or "frame=12" in frames.replace(" ", "")


def test_a_diverged_run_ends_in_a_cross_and_its_trail_stays_in_the_picture(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the refused run below names the default outputs: a simulate_plot.png
    exp = sim.plot("formula('x**4/4 - x**2/2', bounds=((-2, 2),), start=(1.5,))", ["gd(lr=2.5)"], steps=20).experiment
    k = int(exp.entries[0].iterates.diverged_at)
    assert 0 < k < 20
    scene = AnimationScene.for_result(exp)
    artists = scene.update(len(scene.steps) - 1)
    cross = [a for a in artists if hasattr(a, "get_marker") and a.get_marker() == "X"][0]
    x_last = exp.entries[0].iterates.x[k - 1, 0]
    np.testing.assert_array_equal(cross.get_data()[0], [x_last])
    trail = [a for a in artists if hasattr(a, "get_segments")][0]
    drawn = np.vstack([seg for seg in trail.get_segments() if len(seg)])
    assert np.nanmax(np.abs(drawn[:, 0])) <= np.abs(exp.entries[0].iterates.x[:k, 0]).max()  # not the escaping value
    with pytest.raises(ValueError, match="--3d or --animate"):
        sim.run("plot", {"three_d": True, "animate": "a.gif"})


def test_legends_of_the_animation_and_the_3d_view_stay_off_the_drawing(experiment):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    three_d = sim.plot("himmelblau", ["gd(lr=0.01)", "adam(lr=0.1)"], [0.0, 0.0], 30, three_d=True).figure
    for fig in (AnimationScene.for_result(experiment).figure, three_d):
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        ax = fig.axes[0]
        legend = (fig.legends or [ax.get_legend()])[0]
        box = legend.get_window_extent(renderer)
        assert legend.get_texts() and not box.overlaps(ax.get_window_extent(renderer))  # below the axes


def test_python_has_the_same_names(tmp_path):
    result = sim.plot("scalar-net", ["gd(lr=0.15)"], steps=12, box="-0.5:1.5,2.5:4.5", caption="look at the catapult")
    assert result.figure.get_supxlabel() == "look at the catapult"
    path = result.animate(tmp_path / "a.gif", frames=5)
    with Image.open(path) as im:
        assert im.n_frames == 5
    assert sim.animate is animate and callable(sim.demo) and callable(sim.gallery) and callable(sim.explore)
    assert set(sim.DEMOS) >= {"which-minimum", "sgd-langevin"}
