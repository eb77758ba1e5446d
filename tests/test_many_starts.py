"""Many starts are drawn as a crowd (issue 19): above CROWD_ABOVE starts, a seeded sample of
DRAWN_PATHS paths (the only flows integrated) over a density of every start's iterates, the loss
as quantile bands, and one line saying what was thinned; bounded memory (chunks), bit for bit."""

import warnings

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.experiment import CROWD_ABOVE, DRAWN_PATHS, Thinned
from simulate.viz.style import COLORS, MARKERS


def _plot(**kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sim.plot(kwargs.pop("landscape", "himmelblau"),
                          kwargs.pop("optimizers", ["gd(lr=0.01)", "momentum(lr=0.01, momentum=0.5)"]), steps=12,
                          rtol=1e-5, atol=1e-8, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, Thinned)]


@pytest.fixture(scope="module")
def crowd_plot():
    return _plot(random_starts=300, seed=5)


def test_the_drawn_lines_are_the_sample_and_the_thinning_is_said_once(crowd_plot):
    result, said = crowd_plot
    e = result.experiment
    assert CROWD_ABOVE == 64 and DRAWN_PATHS == 16
    assert said == [f"drawing {DRAWN_PATHS} of 300 paths (flows integrated for those); density of all 300 starts' iterates"]
    assert np.array_equal(e.start, e.crowd.starts[e.crowd.drawn]) and len(np.unique(e.crowd.drawn)) == DRAWN_PATHS
    ax_path, ax_loss = result.figure.axes[:2]
    for i, entry in enumerate(e.entries):
        assert entry.iterates.batch_shape == entry.flow.batch_shape == (DRAWN_PATHS,)  # only those integrated
        iterates = [ln for ln in ax_path.lines if ln.get_marker() == MARKERS[i % len(MARKERS)]
                    and ln.get_color() == COLORS[i % len(COLORS)] and len(ln.get_xdata()) == 13]
        assert len(iterates) == DRAWN_PATHS
    assert said[0] in [t.get_text() for t in ax_path.get_legend().get_texts()]
    # the loss: a median line and a 10-90% band per optimizer, no line per start
    medians = [ln for ln in ax_loss.lines if "median, 10-90% of 300 starts" in str(ln.get_label())]
    assert len(medians) == 2 and len(ax_loss.collections) == 2 and len(ax_loss.lines) == 2


def test_the_density_counts_every_iterate_of_every_start_inside_the_box(crowd_plot):
    result, _ = crowd_plot
    crowd = result.experiment.crowd
    image, = result.figure.axes[0].images
    assert np.ma.sum(image.get_array()) == crowd.binned == crowd.density.sum()
    land = result.experiment.landscape
    (x0, x1), (y0, y1) = land.bounds[:2]
    expected = 0
    for opt, entry in zip(("gd(lr=0.01)", "momentum(lr=0.01, momentum=0.5)"), result.experiment.entries):
        x = sim.iterate(land, opt, crowd.starts, 12).x.reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            expected += int(np.count_nonzero((x[:, 0] >= x0) & (x[:, 0] <= x1) & (x[:, 1] >= y0) & (x[:, 1] <= y1)))
    assert crowd.binned == expected > 0
    # and the bands are the quantiles of every start's loss
    f = sim.iterate(land, "gd(lr=0.01)", crowd.starts, 12).f
    assert np.allclose(crowd.quantiles[0], np.nanquantile(f, (0.1, 0.5, 0.9), axis=1), rtol=0, atol=0)


def test_a_crowd_is_bit_for_bit_the_same_with_the_same_seed_and_in_any_chunks(crowd_plot, monkeypatch):
    import simulate.analysis.experiment as experiment

    first = crowd_plot[0].experiment.arrays()
    monkeypatch.setattr(experiment, "CHUNK_BYTES", 13 * 4 * 8 * 7)  # chunks of 7 starts
    again = _plot(random_starts=300, seed=5)[0].experiment.arrays()
    assert first.keys() == again.keys() and any(k.startswith("crowd_density") for k in first)
    for key in first:
        assert np.array_equal(first[key], again[key], equal_nan=first[key].dtype.kind == "f"), key
    from simulate.analysis.experiment import drawn_sample

    assert np.array_equal(drawn_sample(300, 5), crowd_plot[0].experiment.crowd.drawn)
    assert not np.array_equal(drawn_sample(300, 6), drawn_sample(300, 5))


def test_up_to_the_threshold_every_start_is_drawn_as_before():
    result, said = _plot(random_starts=CROWD_ABOVE, seed=1, landscape="quadratic", optimizers=["gd(lr=0.1)"])
    assert result.experiment.crowd is None and said == []
    assert result.experiment.entries[0].flow.batch_shape == (CROWD_ABOVE,)


def test_the_command_says_the_thinning_in_one_line_and_exports_the_crowd(tmp_path, capsys):
    from simulate.cli.app import main

    code = main(["plot", "-l", "quadratic", "-o", "gd(lr=0.1)", "--random-starts", "100", "--steps", "5", "--out",
                 str(tmp_path / "c.png"), "--data", str(tmp_path / "c.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and err == ["warning: drawing 16 of 100 paths (flows integrated for those); density of all "
                                 "100 starts' iterates"]
    with np.load(tmp_path / "c.npz") as data:
        assert data["crowd_starts"].shape == (100, 2) and data["crowd_drawn"].shape == (16,)
        assert data["crowd_density"].sum() > 0 and data["start"].shape == (16, 2)


def test_the_bands_say_how_many_starts_diverged_and_the_repr_that_the_runs_are_a_sample():
    result, _ = _plot(optimizers=["gd(lr=0.03)"], random_starts=200, seed=1)
    crowd = result.experiment.crowd
    k = int(np.count_nonzero(crowd.status[0] == 2))
    assert k > 0  # lr 0.03 is past the stability threshold on part of himmelblau's box
    label, = [str(ln.get_label()) for ln in result.figure.axes[1].lines if "median" in str(ln.get_label())]
    assert label.endswith(f"of 200 starts ({k} diverged: out of the band from then on)")
    assert f"{DRAWN_PATHS} of 200 starts drawn" in repr(result.experiment)


def test_a_crowd_shows_its_progress_start_by_start(monkeypatch):
    import contextlib

    import simulate.analysis.experiment as experiment

    bars = []

    class Bar:
        def __init__(self, total):
            self.total, self.done = total, 0

        def advance(self, n=1):
            self.done += n

    def recording(total, description, **kwargs):
        bars.append(Bar(total))
        return contextlib.nullcontext(bars[-1])

    monkeypatch.setattr(experiment, "progress_bar", recording)
    monkeypatch.setattr(experiment, "CHUNK_BYTES", 8 * 13 * 4 * 7)  # chunks of 7 starts
    experiment.run_crowd("himmelblau", ["gd(lr=0.01)", "adam(lr=0.1)"], sim.landscape("himmelblau").sample(100), 12)
    assert len(bars) == 1 and bars[0].total == bars[0].done == 2 * 100
