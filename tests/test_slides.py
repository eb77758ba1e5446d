"""Figures for slides and classrooms (issue 19): size and type scale, the animation's pixels, a
palette readable in grey, flows drawn apart from their iterates, legends off the data, the
explorer's rounded legends and 1-D landscapes, the order study's known reasons, and several
figure formats from one run."""

import itertools
import tomllib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.legend import Legend
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

import simulate as sim
from simulate.cli.app import main
from simulate.cli.runs import rerun, run
from simulate.viz.animation import animate
from simulate.viz.figures import comparison_figure, order_figure, plot
from simulate.viz.style import COLORS, MARKERS, legend_label, parse_size, restyle

QUICK = {"landscape": "booth", "optimizer": ["gd(lr=0.05)", "momentum(lr=0.05)"], "steps": 8}


@pytest.fixture(scope="module")
def experiment():
    return sim.run_experiment("himmelblau", ["gd(lr=0.01)", "momentum(lr=0.01, momentum=0.8)", "adam(lr=0.1)"],
                              None, 60)


def _texts(fig):
    """Every text but the tick labels (how many ticks an axis has depends on its size)."""
    from matplotlib.axis import Tick

    ticks = {id(label) for tick in fig.findobj(Tick) for label in (tick.label1, tick.label2)}
    return [t for t in fig.findobj(Text) if t.get_text() and id(t) not in ticks]


# -- size and font scale ----------------------------------------------------------------------------
def test_plot_draws_at_the_size_asked_with_every_text_scaled():
    plain = plot("booth", ["gd(lr=0.05)"], steps=5).figure
    big = plot("booth", ["gd(lr=0.05)"], steps=5, figsize="12x6", font_scale=2).figure
    np.testing.assert_array_equal(big.get_size_inches(), [12.0, 6.0])
    for fig in (plain, big):
        FigureCanvasAgg(fig).draw()  # ticks are made at draw: they take the axis's scaled size
    a, b = _texts(plain), _texts(big)
    assert len(a) == len(b) >= 10  # titles, labels, legend entries
    legends = {id(t) for leg in big.findobj(Legend) for t in leg.get_texts()}
    # a legend wider than its panel gets smaller type (to 60 % at the least), every other text exactly x2
    assert all(y.get_fontsize() == pytest.approx(2 * x.get_fontsize()) if id(y) not in legends
               else 1.2 * x.get_fontsize() <= y.get_fontsize() <= 2 * x.get_fontsize() + 1e-9 for x, y in zip(a, b))
    ticks = big.axes[0].xaxis.get_ticklabels()
    assert ticks and ticks[0].get_fontsize() == pytest.approx(2 * plain.axes[0].xaxis.get_ticklabels()[0].get_fontsize())


def test_restyle_works_on_any_figure_and_a_pair_is_a_size(experiment):
    fig = restyle(comparison_figure(experiment), (9, 5.5), 1.5)
    np.testing.assert_array_equal(fig.get_size_inches(), [9.0, 5.5])
    assert fig.axes[0].title.get_fontsize() == pytest.approx(15.0)  # drawn at 10


@pytest.mark.parametrize("size, message", [("0x3", "between 1 and 60 inches"), ("8", "WIDTHxHEIGHT"),
                                           ("nanx3", "WIDTHxHEIGHT"), ("8x4x2", "WIDTHxHEIGHT"),
                                           ("100x5", "between 1 and 60")])
def test_a_bad_size_is_refused_with_its_reason(size, message):
    with pytest.raises(ValueError, match=message):
        parse_size(size)


@pytest.mark.parametrize("args, message", [(["--size", "0x3"], "error: size: each side must be between 1 and 60"),
                                           (["--font-scale", "9"], "error: font_scale: expected a number between 0.25 and 5"),
                                           (["--font-scale", "nan"], "error: font_scale:")])
def test_the_command_line_refuses_a_bad_size_or_scale_before_any_work(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_sized_figure_is_written_at_exactly_its_size_and_the_record_round_trips(tmp_path):
    out = tmp_path / "s.png"
    written = run("plot", {**QUICK, "out": str(out), "size": "8x4.5", "font_scale": 1.5, "dpi": 20})
    assert Image.open(out).size == (160, 90)  # 8 × 20 by 4.5 × 20 pixels: not trimmed
    record = tomllib.loads((tmp_path / "s.run.toml").read_text())
    assert record["config"]["size"] == "8x4.5" and record["config"]["font_scale"] == 1.5
    assert [p.name for p in written] == ["s.png", "s.run.toml"]
    again = tmp_path / "again"
    rerun(tmp_path / "s.run.toml", out_dir=again)
    assert Image.open(again / "s.png").size == (160, 90)
    np.testing.assert_array_equal(np.asarray(Image.open(again / "s.png")), np.asarray(Image.open(out)))


def test_order_sweep_and_rate_map_take_the_size_too(tmp_path):
    cases = {"order": {"optimizer": ["gd(lr=0.01)"], "rungs": 2, "horizon": 0.1},
             "sweep": {"landscape": "booth", "optimizer": ["gd"], "vary": ["lr=0.01:0.1:3"], "steps": 5},
             "rate-map": {"optimizer": ["momentum"], "lr_lambda": "0.1:3:4", "vary": "momentum=0.1:0.9:3"}}
    for command, options in cases.items():
        out = tmp_path / f"{command}.png"
        run(command, {**options, "out": str(out), "size": "6x4", "dpi": 20})
        assert Image.open(out).size == (120, 80), command


# -- the animation follows the dpi and the size -------------------------------------------------------
def test_gif_frames_are_size_times_dpi(tmp_path, experiment):
    short = sim.run_experiment("booth", ["gd(lr=0.05)"], None, 6)
    path = animate(short, tmp_path / "a.gif", dpi=20, size="6x4.5", progress=False)
    with Image.open(path) as gif:
        assert gif.size == (120, 90) and gif.n_frames == 7


def test_the_command_s_gif_follows_its_dpi_and_size(tmp_path):
    run("plot", {**QUICK, "out": str(tmp_path / "p.png"), "animate": str(tmp_path / "p.gif"), "size": "6x4",
                 "dpi": 20})
    with Image.open(tmp_path / "p.gif") as gif:
        assert gif.size == (120, 80)


# -- a palette readable in grey -----------------------------------------------------------------------
def _lab(color):
    """CIE L*a*b* (D65) of an sRGB colour."""
    rgb = np.array(to_rgb(color))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_first_four_colours_differ_in_grey_and_in_colour():
    labs = [_lab(c) for c in COLORS[:4]]
    for a, b in itertools.combinations(labs, 2):
        assert abs(a[0] - b[0]) >= 15  # lightness: what a greyscale print keeps
        assert np.linalg.norm(a - b) >= 40  # CIE76 ΔE
    assert len(set(MARKERS)) == len(MARKERS) >= 4


# -- flows drawn apart from their iterates --------------------------------------------------------------
def test_iterates_are_markers_above_a_broad_flow_and_each_series_has_its_marker(experiment):
    fig = comparison_figure(experiment)
    lines = [line for line in fig.axes[0].lines if len(line.get_xdata()) > 1]
    iterates = [line for line in lines if line.get_marker() not in ("None", "", None)]
    flows = [line for line in lines if line.get_marker() in ("None", "", None)]
    assert len(iterates) == len(flows) == 3
    assert [line.get_marker() for line in iterates] == MARKERS[:3]
    for it, fl in zip(iterates, flows):
        assert it.get_color() == fl.get_color()
        assert fl.get_linewidth() >= 3 * it.get_linewidth() and fl.get_linestyle() == "-"
        assert fl.get_zorder() < it.get_zorder() and fl.get_alpha() < it.get_alpha()


# -- legends off the data --------------------------------------------------------------------------------
def test_the_default_plot_s_legends_cover_no_drawn_point():
    fig = plot().figure  # the default: himmelblau, three optimizers, 100 steps
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes[:2]:
        legend = ax.get_legend()
        box = legend.get_window_extent(renderer)
        assert not box.overlaps(ax.get_window_extent(renderer))  # outside the panel
        points = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.lines
                                 if len(line.get_xdata())])
        frame = ax.get_window_extent(renderer)  # what is drawn: the lines are clipped to the panel
        points = points[np.all(np.isfinite(points), axis=1) & (points[:, 0] >= frame.x0) & (points[:, 0] <= frame.x1)
                        & (points[:, 1] >= frame.y0) & (points[:, 1] <= frame.y1)]
        inside = ((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0)
                  & (points[:, 1] <= box.y1))
        assert len(points) > 300 and not inside.any()
        assert box.y1 < ax.xaxis.label.get_window_extent(renderer).y0  # under the x label, not over it


# -- the explorer ---------------------------------------------------------------------------------------------
def test_legend_labels_round_what_a_slider_set():
    assert legend_label("gd(lr=0.10000000000000002)") == "gd(lr=0.1)"
    assert legend_label("adam(lr=0.020000000000000004, betas=(0.9, 0.9995), eps=1e-08)") == \
        "adam(lr=0.02, betas=(0.9, 0.9995), eps=1e-08)"  # β₂ keeps its fourth digit: it stays below 1
    assert legend_label("x2(lr=3, k=10)") == "x2(lr=3, k=10)"


def test_the_explorer_legend_shows_rounded_values():
    from simulate.viz.explorer import Explorer

    explorer = Explorer("himmelblau", ["gd(lr=0.01)"], steps=5)
    explorer.sliders[0].set_val(np.log10(0.02))
    assert explorer.optimizers[0].lr != 0.02  # the slider's 10**log10(0.02)
    assert [t.get_text() for t in explorer.legend.get_texts()][-1] == "gd(lr=0.02)"


@pytest.mark.parametrize("spec", ["formula('0.015*x**2 + 0.45*cos(1.1*x)', bounds=((-15, 15),), start=(11,))",
                                  "quadratic(eigenvalues=(2,))"])
def test_the_explorer_draws_1d_landscapes_on_the_graph_of_f(spec):
    from simulate.viz.explorer import Explorer

    class Click:
        inaxes, xdata, ydata, button = None, 2.5, 123.0, 1

    explorer = Explorer(spec, ["gd(lr=0.1)", "momentum(lr=0.1)"], steps=20)
    land = explorer.landscape
    runs = sim.iterate(spec, "gd(lr=0.1)", steps=20)
    x, y = explorer.iterate_lines[0].get_data()
    np.testing.assert_array_equal(x, runs.x[:, 0])
    np.testing.assert_allclose(y, land.value(runs.x), rtol=1e-12)  # on the graph of f
    fx, fy = explorer.flow_lines[0].get_data()
    assert fx[0] == runs.x[0, 0] and np.allclose(fy, land.value(np.asarray(fx)[:, None]), rtol=1e-9)
    Click.inaxes = explorer.ax
    explorer.on_click(Click)
    np.testing.assert_array_equal(explorer.x0, [2.5])  # the click's x; its height is the graph's
    assert explorer.start_marker.get_data()[1][0] == pytest.approx(float(land.value(np.array([[2.5]]))[0]))
    np.testing.assert_array_equal(explorer.iterate_lines[1].get_data()[0],
                                  sim.iterate(spec, "momentum(lr=0.1)", [2.5], 20).x[:, 0])


def test_the_explorer_still_refuses_three_dimensions():
    from simulate.viz.explorer import Explorer

    with pytest.raises(ValueError, match="2-D.*1-D.*3-D"):
        Explorer("quadratic(eigenvalues=(1, 2, 3))", ["gd"])


# -- the order study's known reasons ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def momentum_limits():
    return sim.order_study("quadratic(eigenvalues=(1, 2))", ["momentum(lr=0.002, momentum=0.8)"],
                           flows=["oscillator", "limit"])


def test_the_fixed_beta_limit_of_heavy_ball_says_why_its_slope_is_below_one(momentum_limits):
    oscillator, limit = momentum_limits.results
    assert limit.observed_order == pytest.approx(0.92, abs=0.02) and limit.expected_order == 1
    assert "pre-asymptotic" in limit.note and "1/(1 − β) steps" in limit.note and "0.1 at the largest rung" in limit.note
    assert limit.summary()["note"] == limit.note
    assert oscillator.note == "" and abs(oscillator.observed_order - 1) < 0.05  # on its order: nothing to explain
    fig = order_figure(momentum_limits)
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert any(t.startswith("† momentum vs limit flow: slope 0.92") for t in texts)
    assert any(t.endswith("†: slope 0.92 (last pair 0.97)") for t in texts)  # the ladder's legend entry


def test_adam_s_fixed_beta_limit_says_its_reason_too():
    study = sim.order_study("quadratic(eigenvalues=(1, 100))", ["adam(lr=0.001, betas=(0.9, 0.99))"],
                            flows=["limit", "ema"], start=[1, 1], horizon=0.5, rungs=5)
    limit, ema = study.results
    assert limit.observed_order == pytest.approx(0.83, abs=0.02)
    assert "averages' memory" in limit.note and "0.2 at the largest rung" in limit.note
    assert ema.note == ""


def test_gd_on_a_quadratic_has_no_note():
    study = sim.order_study("quadratic(eigenvalues=(1, 2))", ["gd(lr=0.01)"], rungs=3)
    assert study.results[0].note == "" and study.notes == []
    assert not any(t.get_text().startswith("†") for t in order_figure(study).findobj(Text))


# -- several formats from one run ----------------------------------------------------------------------------
def test_one_run_writes_every_format_with_one_record_and_rerun_writes_them_all(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "-l", "booth", "-o", "gd(lr=0.05)", "--steps", "5", "--out", "f.png", "--format",
                 "png,svg,pdf", "--dpi", "30"]) == 0
    assert capsys.readouterr().out.split() == ["f.png", "f.svg", "f.pdf", "f.run.toml"]
    record = tomllib.loads(Path("f.run.toml").read_text())
    assert record["run"]["outputs"] == ["f.png", "f.svg", "f.pdf"] and record["config"]["format"] == "png,svg,pdf"
    assert Path("f.svg").read_text().lstrip().startswith("<?xml") and Path("f.pdf").read_bytes()[:4] == b"%PDF"
    assert main(["rerun", "f.run.toml", "--out-dir", "again"]) == 0
    assert sorted(p.name for p in Path("again").iterdir()) == ["f.pdf", "f.png", "f.run.toml", "f.svg"]
    np.testing.assert_array_equal(np.asarray(Image.open("again/f.png")), np.asarray(Image.open("f.png")))


def test_an_existing_figure_of_any_format_refuses_the_whole_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("f.svg").write_text("mine")
    assert main(["plot", "--out", "f.png", "--format", "png,svg"]) == 2
    assert "'f.svg' exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg"] and Path("f.svg").read_text() == "mine"


@pytest.mark.parametrize("fmt, message", [("svg", "does not include the format of --out 'f.png' (png)"),
                                          ("png,png", "a format is given twice"),
                                          ("png,jpg", "each format must be one of png, svg, pdf")])
def test_a_bad_format_list_is_refused_before_any_work(fmt, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--out", "f.png", "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: format: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_demo_takes_the_size_the_scale_and_the_formats(tmp_path):
    from simulate.cli.demos import demo

    written = demo("balancing", tmp_path / "b.png", dpi=20, size="10x6", font_scale=1.5, formats="png,svg")
    assert [p.name for p in written] == ["b.png", "b.svg", "b.run.toml"]
    assert Image.open(tmp_path / "b.png").size == (200, 120)


def test_at_slide_size_and_large_type_titles_and_legends_fit_or_it_is_said():
    import warnings

    from simulate.viz.style import LayoutWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = sim.plot("himmelblau", steps=20, figsize="8x4.5", font_scale=1.5).figure
    assert not [w for w in caught if issubclass(w.category, LayoutWarning)]
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.title.get_text()]
    boxes += [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
    assert len(boxes) == 4  # two titles (wrapped) and two legends
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(fig.bbox.x0 - 1 <= b.x0 and b.x1 <= fig.bbox.x1 + 1 for b in boxes)
    with pytest.warns(LayoutWarning, match=r"at 3x2 inches .*use a larger --size or a smaller --font-scale"):
        sim.plot("himmelblau", steps=5, figsize="3x2", font_scale=3)


def test_every_figure_hangs_its_legends_below_its_panels(experiment):
    # an order study with notes, the extra panels of the runs' figure, a 1-D sweep and a noisy ensemble:
    # no legend inside a panel, where it covered data (the sharpness panel of edge-of-stability)
    from simulate.viz.figures import sweep_figure

    study = sim.order_study("himmelblau", ["momentum(lr=0.002, momentum=0.5)"], flows=["modified", "exact"])
    figures = [order_figure(study), comparison_figure(experiment, sharpness=True),
               sweep_figure(sim.sweep("quadratic", "gd", "lr=0.01:1:5", steps=50, progress=False)),
               sim.plot("double-well", ["gd(lr=0.05)"], steps=20, noise=0.1, paths=20).figure]
    for fig in figures:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw_without_rendering()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0 + 1
    notes = [t for t in figures[0].axes[0].texts if t.get_text().startswith("⚠")]
    legend = figures[0].axes[0].get_legend().get_window_extent(renderer=FigureCanvasAgg(figures[0]).get_renderer())
    assert notes and notes[0].get_window_extent().y0 >= legend.y1  # the study's notes above its legend
