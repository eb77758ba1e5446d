"""An optimizer with no continuous model (Rprop: a switched system) is drawn, animated, saved and
summarized by its iterates alone, beside others that have flows; asked for a model by name, it
still refuses with the reason."""

import json
import warnings

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.experiment import Experiment, NoFlow, run_experiment
from simulate.cli.app import main
from simulate.models import no_model
from simulate.optimizers.rprop import NO_FLOW
from simulate.viz.animation import AnimationScene
from simulate.viz.figures import comparison_figure

STEPS = 40
START = np.array([[0.0, 0.0], [-1.0, 1.0]])


@pytest.fixture(scope="module")
def experiment():
    return run_experiment("himmelblau", ["rprop", "gd(lr=0.01)"], START, STEPS)


def test_no_model_says_why_only_where_there_is_none():
    assert no_model(sim.optimizer("rprop")) == NO_FLOW
    assert no_model(sim.optimizer("gd")) == ""


def test_its_iterates_run_in_full_and_its_flow_is_absent(experiment):
    rprop, gd = experiment.entries
    assert rprop.flow is None and rprop.comparison is None and rprop.flow_at_steps is None
    alone = sim.iterate(sim.landscape("himmelblau"), sim.optimizer("rprop"), START, STEPS)
    np.testing.assert_array_equal(rprop.iterates.x, alone.x)
    assert gd.flow is not None and gd.comparison.distance.shape == (STEPS + 1, 2)
    assert "rprop(lr=0.01) (no flow)" in repr(experiment)


def test_the_terminal_line_says_why(experiment):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        experiment.warn_flow_failures()
    lines = [str(w.message) for w in seen if issubclass(w.category, NoFlow)]
    assert len(lines) == 1 and lines[0].startswith("rprop(lr=0.01): its iterates are drawn alone")
    assert "switched system" in lines[0]
    assert experiment.flow_failures() == []  # nothing failed: there was nothing to integrate


def test_saved_and_loaded_without_a_flow(experiment, tmp_path):
    arrays = experiment.arrays()
    assert "iterates_x_0" in arrays and "flow_x_0" not in arrays and "distance_0" not in arrays
    assert "flow_x_1" in arrays and list(arrays["flow_kinds"]) == ["", "exact"]
    back = Experiment.load(experiment.save(tmp_path / "r.npz"))
    assert back.entries[0].flow is None
    np.testing.assert_array_equal(back.entries[0].iterates.x, experiment.entries[0].iterates.x)
    np.testing.assert_array_equal(back.entries[1].flow.x, experiment.entries[1].flow.x)
    summary = experiment.summary()["optimizers"]
    assert summary[0]["flow"] is None and summary[0]["members"][0]["flow"] is None
    assert "final_distance" not in summary[0]["members"][0] and "final_distance" in summary[1]["members"][0]


def test_the_figure_draws_its_iterates_alone(experiment):
    fig = comparison_figure(experiment)
    ax_path, ax_loss = fig.axes[:2]
    orange = [line for line in ax_path.lines if np.array_equal(line.get_xydata(), experiment.entries[0].iterates.x[:, 0])]
    assert len(orange) == 1  # its iterates, and no flow under them
    gd_flow = experiment.entries[1].flow.x[:, 0]
    assert any(np.array_equal(line.get_xydata(), gd_flow) for line in ax_path.lines)
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert labels[0] == "rprop (no continuous model)" and "|iterates − flow|" in labels[1]


def test_alone_the_legend_names_no_flow():
    fig = comparison_figure(run_experiment("himmelblau", ["rprop"], [0.5, 0.5], 10))
    texts = [t.get_text() for ax in fig.axes for legend in [ax.get_legend()] if legend for t in legend.get_texts()]
    assert "iterates (discrete map)" in texts and not any("continuous flow" in t for t in texts)
    assert "flow" not in fig.axes[1].get_title()
    assert fig.axes[0].get_title().endswith("iterates (no continuous model)")
    assert fig.axes[1].get_xlabel().startswith("steps")  # no model, so no clock t = k·h to draw against


def test_animated_without_a_flow(experiment):
    scene = AnimationScene.for_result(experiment, frames=5)
    artists = scene.update(len(scene.steps) - 1)
    heads = [a for a in artists if hasattr(a, "get_xdata") and a.get_marker() == "o"]
    np.testing.assert_array_equal(np.column_stack(heads[0].get_data()), experiment.entries[0].iterates.x[-1])


def test_a_model_asked_for_by_name_is_still_refused():
    with pytest.raises(ValueError, match="switched system"):
        run_experiment("himmelblau", ["rprop", "gd"], [0.5, 0.5], 10, flow="exact")


def test_many_starts_thin_it_like_the_others():
    result = sim.plot("himmelblau", ["rprop"], steps=20, random_starts=70, seed=3)
    assert result.experiment.crowd is not None
    assert all(e.flow is None for e in result.experiment.entries)


def test_the_command_draws_it_and_says_why_once(tmp_path, capsys):
    out = tmp_path / "r.png"
    assert main(["plot", "-o", "rprop", "-o", "gd", "--steps", "30", "--out", str(out),
                 "--data", str(tmp_path / "r.npz")]) == 0
    err = capsys.readouterr().err
    assert out.exists() and err.count("its iterates are drawn alone") == 1
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["optimizers"][0]["flow"] is None


def test_with_noise_its_paths_are_drawn_without_a_flow():
    ens = sim.plot("double-well", ["rprop", "gd(lr=0.05)"], steps=30, noise=0.5, paths=8, seed=1).experiment
    rprop, gd = ens.entries
    assert rprop.flow is None and rprop.home is None and gd.flow is not None
    assert rprop.iterates.x.shape == (31, 8, ens.landscape.dim)
    arrays = ens.arrays()
    assert "iterates_x_0" in arrays and "flow_x_0" not in arrays and "flow_x_1" in arrays


def test_tuned_and_drawn_without_a_flow():
    from simulate.viz.tuning import tune_figure

    tuning = sim.tune("himmelblau", ["rprop", "gd"], budget=60)
    fig = tune_figure(tuning)
    rprop, gd = (run.entries[0] for run in tuning.runs)
    assert rprop.flow is None and gd.flow is not None
    drawn = [line.get_xydata() for line in fig.axes[0].lines]
    def first(x):  # the first start's path, (T, 2)
        return x.reshape(len(x), -1, x.shape[-1])[:, 0]

    assert any(np.array_equal(xy, first(rprop.iterates.x)) for xy in drawn)
    assert any(np.array_equal(xy, first(gd.flow.x)) for xy in drawn)
