"""Config files, run records, rerun, overwrite policy, data formats, and save/load from Python."""

import json
import math
import sys

import numpy as np
import pytest

import simulate as sim
from simulate.cli.app import main
from simulate.io.config import dumps
from simulate.analysis.experiment import Experiment
from simulate.cli.runs import COMMANDS, record_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# A quick, complete invocation of every command that writes files: registering a command puts it under test.
SAMPLE_ARGS = {
    "plot": ["plot", "-l", "booth", "-o", "gd(lr=0.05)", "-o", "adam(lr=0.5)", "--random-starts", "2", "--seed", "3",
             "--steps", "15", "--out", "fig.png", "--data", "fig.npz"],
    "order": ["order", "-l", "quadratic(eigenvalues=(1, 10))", "-o", "gd(lr=0.02)", "-f", "exact", "-f", "modified",
              "--rungs", "3", "--horizon", "0.2", "--out", "order.png", "--data", "order.npz"],
    "sweep": ["sweep", "-l", "himmelblau", "-o", "gd", "-o", "adam", "--vary", "lr=0.001:0.1:3:log", "--vary", "x=-1,1",
              "--steps", "20", "--flow", "exact", "--record-every", "5", "--out", "sweep.png", "--data", "sweep.npz"],
    "rate-map": ["rate-map", "-o", "momentum", "-o", "nesterov", "-l", "himmelblau", "--lr-lambda", "0.1:3:4",
                 "--vary", "momentum=0.2,0.8", "--steps", "40", "--out", "rates.png", "--data", "rates.npz"],
    "tune": ["tune", "-l", "quadratic(eigenvalues=(1, 10))", "-o", "gd", "-o", "heun", "--vary", "lr=0.05:0.2:4:log",
             "--budget", "30", "--start", "1.0,1.0", "--start=-1.0,0.5", "--out", "tune.png", "--data", "tune.csv"],
}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_is_sampled_here():
    assert set(SAMPLE_ARGS) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_rerun_reproduces_the_data_bit_for_bit(command, in_tmp, capsys):
    code, out, err = cli(capsys, *SAMPLE_ARGS[command])
    assert code == 0, err
    written = out.split()
    record = [p for p in written if p.endswith(".run.toml")][0]
    (in_tmp / "again").mkdir()
    code, out2, err = cli(capsys, "rerun", record, "--out-dir", "again")
    assert code == 0, err
    data = [p for p in written if p.endswith((".npz", ".json", ".csv"))]
    assert data, "every command writes data"
    for name in data:
        assert (in_tmp / name).read_bytes() == (in_tmp / "again" / name).read_bytes(), name


def test_record_beside_every_output_holds_config_versions_seed_and_command_line(in_tmp, capsys):
    code, out, _ = cli(capsys, *SAMPLE_ARGS["plot"])
    assert out.split() == ["fig.png", "fig.npz", "fig.json", "fig.run.toml"]
    record = tomllib.loads((in_tmp / "fig.run.toml").read_text())
    assert record["run"]["command"] == "plot" and record["run"]["seed"] == 3
    assert record["run"]["argv"] == ["simulate", *SAMPLE_ARGS["plot"]]
    assert record["run"]["outputs"] == ["fig.png", "fig.npz", "fig.json"]
    assert set(record["versions"]) >= {"simulate", "numpy", "scipy", "matplotlib", "python"}
    assert record["versions"]["numpy"] == np.__version__ and record["versions"]["simulate"] == sim.__version__
    config = record["config"]
    assert config["landscape"] == "booth" and config["optimizer"] == ["gd(lr=0.05)", "adam(lr=0.5)"]
    assert config["steps"] == 15 and config["random_starts"] == 2 and "lr" not in config  # None is not written
    assert record_path("a/b/fig.png").as_posix() == "a/b/fig.run.toml"


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_figures_carry_the_command_in_their_metadata(in_tmp, capsys, suffix):
    code, _, err = cli(capsys, "plot", "-l", "booth", "--steps", "3", "--out", f"f.{suffix}")
    assert code == 0, err
    command = "simulate plot -l booth --steps 3 --out f." + suffix
    if suffix == "png":
        from PIL import Image

        assert Image.open(in_tmp / "f.png").info["Description"] == command
    else:
        assert command.encode() in (in_tmp / f"f.{suffix}").read_bytes()


def test_config_file_sets_options_and_the_command_line_overrides(in_tmp, capsys):
    (in_tmp / "run.toml").write_text('landscape = "booth"\noptimizer = ["gd(lr=0.05)", "adam"]\n'
                                     'start = [[-5, -5], [5, 5]]\nsteps = 30\n')
    code, out, _ = cli(capsys, "plot", "--config", "run.toml", "--dump-config")
    dumped = tomllib.loads(out)
    assert code == 0 and dumped["steps"] == 30 and dumped["start"] == ["-5.0,-5.0", "5.0,5.0"]
    assert dumped["optimizer"] == ["gd(lr=0.05)", "adam"] and dumped["out"] == "simulate_plot.png"
    assert list(in_tmp.iterdir()) == [in_tmp / "run.toml"]  # --dump-config writes nothing
    code, out, _ = cli(capsys, "plot", "--config", "run.toml", "--steps", "7", "-o", "momentum", "--dump-config")
    dumped = tomllib.loads(out)
    assert dumped["steps"] == 7 and dumped["optimizer"] == ["momentum"]  # a repeated option replaces the list


def test_dumped_config_is_complete_and_reads_back_to_itself(in_tmp, capsys):
    _, first, _ = cli(capsys, "plot", "-l", "rosenbrock", "--lr", "0.002", "--dump-config")
    (in_tmp / "dumped.toml").write_text(first)
    _, second, _ = cli(capsys, "plot", "--config", "dumped.toml", "--dump-config")
    assert first == second
    keys = set(tomllib.loads(first)) | {line.split()[1] for line in first.splitlines() if line.startswith("# ") and "(not set)" in line}
    assert keys == {"landscape", "optimizer", "start", "random_starts", "seed", "steps", "lr", "flow", "method", "rtol",
                    "atol", "max_evaluations", "flow_seconds", "time", "sharpness", "energy", "steepest_steps", "noise", "batch_size", "paths", "scheme", "substeps",
                    "three_d", "schedule", "warmup", "clip_norm", "clip_value", "lr_scale", "ema", "box", "caption", "out", "data", "animate", "dpi",
                    "size", "font_scale", "format", "time_limit"}


def test_a_run_record_can_be_given_as_config(in_tmp, capsys):
    cli(capsys, *SAMPLE_ARGS["plot"])
    code, out, _ = cli(capsys, "plot", "--config", "fig.run.toml", "--dump-config")
    assert code == 0 and tomllib.loads(out)["seed"] == 3
    text = (in_tmp / "fig.run.toml").read_text().replace('command = "plot"', 'command = "sweep"')
    (in_tmp / "other.run.toml").write_text(text)
    code, _, err = cli(capsys, "plot", "--config", "other.run.toml")
    assert code == 2 and "other.run.toml:" in err and "for 'sweep', not 'plot'" in err


@pytest.mark.parametrize("content, where, message", [
    ('landscape = "booth"\nstpes = 3\n', ":2: stpes:", "Did you mean 'steps'"),
    ('steps = "many"\n', ":1: steps:", "expected a whole number, got 'many'"),
    ('steps = "10"\n', ":1: steps:", "expected a whole number, got '10'"),
    ('steps = true\n', ":1: steps:", "expected a whole number, got True"),
    ('steps = 10.0\n', ":1: steps:", "expected a whole number"),
    ('steps = -4\n', ":1: steps:", "must be >= 0"),
    ('rtol = "1e-3"\n', ":1: rtol:", "positive finite number"),
    ('lr = [0.1]\n', ":1: lr:", "positive finite number"),
    ('seed = -1\n', ":1: seed:", "must be >= 0"),
    ('random_starts = 100000000\n', ":1: random_starts:", "between 0 and 1000000"),
    ('random-starts = 2\nrandom_starts = 3\n', ":2: random_starts:", "given twice"),
    ('start = [[1, 2], "3,4"]\n', ":1: start:", "written the same way"),
    ('landscape = {name = "booth"}\n', ":1: landscape:", "tables are not options"),
    ('\n\nrtol = 0\n', ":3: rtol:", "positive finite number"),
    ('optimizer = ["gd(lr=-1)"]\n', ":1: optimizer:", "lr must be > 0"),
    ('landscape = "himmelblu"\n', ":1: landscape:", "Did you mean 'himmelblau'"),
    ('method = "Euler"\n', ":1: method:", "'Euler'"),
    ('out = "fig.txt"\n', ":1: out:", "extension must be one of .png"),
    ('start = "1,2"\n', ":1: start:", ""),
    ('overwrite = true\n', ":1: overwrite:", "unknown option"),
    ('steps = = 3\n', ":1: not valid TOML", "line 1"),
    ('[plot]\nsteps = 3\n', ":1: plot:", "tables are not options"),
])
def test_bad_config_names_file_line_and_key_and_writes_nothing(in_tmp, capsys, content, where, message):
    (in_tmp / "bad.toml").write_text(content)
    code, out, err = cli(capsys, "plot", "--config", "bad.toml", "--steps", "2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: bad.toml" + where), err
    assert message in lines[0]
    assert [p.name for p in in_tmp.iterdir()] == ["bad.toml"]


def test_existing_outputs_need_overwrite_and_survive_a_refusal(in_tmp, capsys):
    assert cli(capsys, "plot", "-l", "booth", "--steps", "3", "--out", "f.png")[0] == 0
    before = (in_tmp / "f.png").read_bytes()
    code, _, err = cli(capsys, "plot", "-l", "booth", "--steps", "4", "--out", "f.png", "--data", "f.npz")
    assert code == 2 and "'f.png' exists; pass --overwrite" in err
    assert (in_tmp / "f.png").read_bytes() == before and not (in_tmp / "f.npz").exists()  # nothing written
    code, _, err = cli(capsys, "plot", "-l", "booth", "--steps", "4", "--out", "f.png", "--overwrite")
    assert code == 0 and tomllib.loads((in_tmp / "f.run.toml").read_text())["config"]["steps"] == 4
    (in_tmp / "g.png").unlink(missing_ok=True)
    (in_tmp / "f.png").rename(in_tmp / "g.png")
    code, _, err = cli(capsys, "plot", "-l", "booth", "--steps", "4", "--out", "f.png")
    assert code == 2 and "'f.run.toml' (the run record of 'f.png') exists" in err  # names why it matters


def test_rerun_in_place_needs_overwrite(in_tmp, capsys):
    cli(capsys, *SAMPLE_ARGS["plot"])
    data = (in_tmp / "fig.npz").read_bytes()
    code, _, err = cli(capsys, "rerun", "fig.run.toml")
    assert code == 2 and "exists; pass --overwrite" in err
    code, out, err = cli(capsys, "rerun", "fig.run.toml", "--overwrite")
    assert code == 0 and (in_tmp / "fig.npz").read_bytes() == data
    code, _, err = cli(capsys, "rerun", "missing.run.toml")
    assert code == 2 and "missing.run.toml: cannot read" in err


def test_random_starts_follow_the_seed(in_tmp, capsys):
    land = sim.landscape("booth")
    for seed in (3, 4):
        cli(capsys, "plot", "-l", "booth", "--random-starts", "2", "--seed", str(seed), "--steps", "1",
            "--out", f"s{seed}.png", "--data", f"s{seed}.npz")
        np.testing.assert_array_equal(np.load(in_tmp / f"s{seed}.npz")["start"], land.sample(2, seed=seed))
    assert not np.array_equal(land.sample(2, seed=3), land.sample(2, seed=4))
    code, _, err = cli(capsys, "plot", "--random-starts", "2", "--start", "1,1")
    assert code == 2 and "not both" in err


def test_json_summary_matches_the_experiment(in_tmp, capsys):
    cli(capsys, *SAMPLE_ARGS["plot"])
    summary = json.loads((in_tmp / "fig.json").read_text())
    exp = Experiment.load(in_tmp / "fig.npz")
    assert summary["landscape"] == "booth" and len(summary["optimizers"]) == 2
    for entry, e in zip(summary["optimizers"], exp.entries):
        assert entry["spec"] == e.optimizer.spec
        for i, member in enumerate(entry["members"]):
            assert member["iterates"]["final_x"] == e.iterates.x[-1, i].tolist()
            assert member["final_distance"] == float(e.comparison.final[i])
            assert member["iterates"]["status"] == sim.solvers.trajectory.STATUS_NAMES[int(e.iterates.status[i])]


# -- Python: the same features under the same names ---------------------------------------------------------
def test_python_run_and_rerun_write_the_same_files(tmp_path):
    options = {"landscape": "booth", "optimizer": ["gd(lr=0.05)"], "steps": 5,
               "out": str(tmp_path / "p.svg"), "data": str(tmp_path / "p.npz")}
    written = sim.run("plot", options)
    assert [p.name for p in written] == ["p.svg", "p.npz", "p.json", "p.run.toml"]
    record = tomllib.loads((tmp_path / "p.run.toml").read_text())
    assert record["run"]["argv"] == [] and record["config"]["steps"] == 5
    (tmp_path / "b").mkdir()
    sim.rerun(tmp_path / "p.run.toml", out_dir=tmp_path / "b")
    assert (tmp_path / "b" / "p.npz").read_bytes() == (tmp_path / "p.npz").read_bytes()
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        sim.run("plot", options)


def test_trajectory_and_experiment_save_and_load_themselves(tmp_path):
    run = sim.iterate("himmelblau", sim.optimizer("adam", lr=(0.1, 0.05)), [[0, 0], [1, -1]], 30)
    run.save(tmp_path / "r.npz")
    back = sim.Trajectory.load(tmp_path / "r.npz")
    for name in sim.Trajectory.FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(back, name)), np.asarray(getattr(run, name)))
    np.testing.assert_array_equal(back.f, run.f)
    assert back.optimizer.spec == run.optimizer.spec and back.landscape.label == "himmelblau"
    assert back.stats == run.stats and back.stats["escape_radius"] == 500.0

    result = sim.plot("quadratic(eigenvalues=(1, 10))", ["gd(lr=0.25)", "momentum(lr=0.05)"], start=[1.0, 1.0], steps=40)
    result.experiment.save(tmp_path / "e.npz")
    loaded = Experiment.load(tmp_path / "e.npz")
    assert loaded.landscape.label == result.experiment.landscape.label
    for a, b in zip(result.experiment.entries, loaded.entries):
        np.testing.assert_array_equal(a.iterates.x, b.iterates.x)
        np.testing.assert_array_equal(a.flow.x, b.flow.x)
        np.testing.assert_array_equal(a.comparison.distance, b.comparison.distance)
        assert a.iterates.message == b.iterates.message and int(a.iterates.diverged_at) == int(b.iterates.diverged_at)


@pytest.mark.parametrize("value", ["plain", 'quote " and \\ backslash', "ünïcödé λ", 0, -3, 1e-300, 0.1, math.inf,
                                   True, [1, 2.5], ["a", "b"], [[1, 2], [3, 4]]])
def test_toml_writer_reads_back(value):
    assert tomllib.loads(dumps({"k": value}))["k"] == value
    assert math.isnan(tomllib.loads(dumps({"k": math.nan}))["k"])


def test_cli_and_python_share_one_set_of_defaults(in_tmp, capsys):
    _, out, _ = cli(capsys, "plot", "--dump-config")
    dumped = tomllib.loads(out)
    defaults = {k: v for k, v in COMMANDS["plot"].defaults.items() if v is not None}
    assert dumped == {**defaults, "optimizer": [], "start": []}  # unset repeatable options dump as empty lists
    written = sim.run("plot", {"landscape": "booth", "steps": 2})
    record = tomllib.loads((in_tmp / "simulate_plot.run.toml").read_text())
    assert [p.name for p in written] == ["simulate_plot.png", "simulate_plot.run.toml"]
    assert record["config"] == {**defaults, "landscape": "booth", "steps": 2}
    with pytest.raises(ValueError, match="stpes: unknown option. Did you mean 'steps'"):
        sim.run("plot", {"stpes": 2})


# -- found by trying the reproducibility features as a new user ------------------------------------------
def test_records_are_relative_so_in_place_rerun_restores_split_outputs_and_folders_can_move(in_tmp, capsys):
    (in_tmp / "figs").mkdir()
    (in_tmp / "dat").mkdir()
    assert cli(capsys, "plot", "-l", "booth", "--steps", "3", "--out", "figs/x.png", "--data", "dat/x.npz")[0] == 0
    record = tomllib.loads((in_tmp / "dat/x.run.toml").read_text())
    assert record["config"]["out"] == "../figs/x.png" and record["config"]["data"] == "x.npz"
    before = (in_tmp / "dat/x.npz").read_bytes()
    code, out, err = cli(capsys, "rerun", "dat/x.run.toml", "--overwrite")
    assert code == 0, err
    assert not (in_tmp / "dat/x.png").exists() and (in_tmp / "dat/x.npz").read_bytes() == before
    # the whole tree moved elsewhere still reruns into itself
    import shutil

    shutil.copytree(in_tmp, in_tmp.parent / (in_tmp.name + "-moved"))
    moved = in_tmp.parent / (in_tmp.name + "-moved")
    code, _, err = cli(capsys, "rerun", str(moved / "dat/x.run.toml"), "--overwrite")
    assert code == 0 and (moved / "dat/x.npz").read_bytes() == before


def test_rerun_out_dir_is_created_and_holds_every_output(in_tmp, capsys):
    cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png")
    text = (in_tmp / "r.run.toml").read_text().replace('out = "r.png"\n', "")  # an edited record without out
    (in_tmp / "edited.run.toml").write_text(text)
    code, out, err = cli(capsys, "rerun", "edited.run.toml", "--out-dir", "new/deeper")
    assert code == 0, err
    assert sorted(p.name for p in (in_tmp / "new/deeper").iterdir()) == ["simulate_plot.png", "simulate_plot.run.toml"]


def test_rerun_of_a_hand_edited_record_locates_errors_and_warns_about_versions(in_tmp, capsys):
    cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png")
    text = (in_tmp / "r.run.toml").read_text()
    (in_tmp / "bad.run.toml").write_text(text.replace("steps = 2", 'steps = "ten"'))
    code, _, err = cli(capsys, "rerun", "bad.run.toml", "--out-dir", "o")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("steps ="))
    assert code == 2 and err.strip() == f"error: bad.run.toml:{line}: steps: expected a whole number, got 'ten'"
    (in_tmp / "old.run.toml").write_text(text.replace(f'numpy = "{np.__version__}"', 'numpy = "1.0.0"'))
    code, _, err = cli(capsys, "rerun", "old.run.toml", "--out-dir", "o2")
    assert code == 0 and f"warning: old.run.toml was made with other versions (numpy 1.0.0 -> {np.__version__})" in err


def test_reruns_keep_the_first_command_line(in_tmp, capsys):
    cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png")
    cli(capsys, "rerun", "r.run.toml", "--overwrite")
    cli(capsys, "rerun", "r.run.toml", "--overwrite")
    run = tomllib.loads((in_tmp / "r.run.toml").read_text())["run"]
    assert run["first_command_line"] == "simulate plot -l booth --steps 2 --out r.png"
    assert run["command_line"] == "simulate rerun r.run.toml --overwrite"


def test_command_line_start_overrides_random_starts_from_a_file_and_back(in_tmp, capsys):
    (in_tmp / "c.toml").write_text('landscape = "booth"\nrandom_starts = 3\nsteps = 1\n')
    code, out, err = cli(capsys, "plot", "--config", "c.toml", "--start", "1,1", "--data", "s.npz")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(in_tmp / "s.npz")["start"], [1.0, 1.0])
    (in_tmp / "d.toml").write_text('landscape = "booth"\nstart = [1, 1]\nsteps = 1\n')
    code, out, err = cli(capsys, "plot", "--config", "d.toml", "--random-starts", "2", "--out", "t.png", "--data", "t.npz")
    assert code == 0, err
    assert np.load(in_tmp / "t.npz")["start"].shape == (2, 2)


def test_huge_runs_and_unreadable_configs_are_refused_cleanly(in_tmp, capsys):
    code, _, err = cli(capsys, "plot", "--steps", "100000000000")
    assert code == 2 and err.startswith("error: this run would record") and "GiB" in err
    (in_tmp / "bin.toml").write_bytes(b"\xff\xfesteps = 3")
    code, _, err = cli(capsys, "plot", "--config", "bin.toml")
    assert code == 2 and err.strip() == "error: bin.toml: the config file is not UTF-8 text"
    assert sorted(p.name for p in in_tmp.iterdir()) == ["bin.toml"]


def test_svg_is_byte_reproducible(in_tmp, capsys):
    for name in ("a.svg", "b.svg"):
        cli(capsys, "plot", "-l", "booth", "--steps", "3", "--out", name)
    a, b = (in_tmp / "a.svg").read_text(), (in_tmp / "b.svg").read_text()
    assert a.replace("a.svg", "b.svg") == b  # only the recorded command line differs


def test_json_keeps_the_last_finite_values_of_a_diverged_member(in_tmp, capsys):
    cli(capsys, "plot", "-l", "quadratic(eigenvalues=(1, 10))", "-o", "gd(lr=0.25)", "--steps", "200", "--data", "q.npz")
    member = json.loads((in_tmp / "q.json").read_text())["optimizers"][0]["members"][0]
    k = member["iterates"]["diverged_at"]
    assert member["iterates"]["status"] == "diverged" and member["iterates"]["final_x"] == [None, None]
    assert member["iterates"]["last_finite_step"] == k and all(math.isfinite(v) for v in member["iterates"]["last_finite_x"])
    assert member["max_distance"] is None and member["max_distance_while_both_finite"] > 0


NOISY_ARGS = {
    "plot": ["plot", "-l", "double-well", "-o", "gd(lr=0.05)", "-o", "adam(lr=0.05)", "--start=-1,0.5", "--steps", "30",
             "--noise", "1.5", "--paths", "20", "--seed", "4", "--out", "ens.png", "--data", "ens.npz"],
    "plot-minibatch": ["plot", "-l", "least-squares(samples=16)", "-o", "gd(lr=0.2)", "--steps", "30",
                       "--batch-size", "4", "--paths", "10", "--substeps", "3", "--out", "mb.png", "--data", "mb.npz"],
    "sweep": ["sweep", "-l", "himmelblau", "-o", "gd", "--vary", "lr=0.001:0.01:3", "--steps", "20", "--noise", "2",
              "--seed", "5", "--out", "s.png", "--data", "s.npz"],
}


def _replaced(args, values: dict) -> list:
    """``args`` with these options' values replaced (or added): an option is given once."""
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in values:
            skip = True
            continue
        out.append(a)
    return [*out, *(x for flag, value in values.items() for x in (flag, value))]


@pytest.mark.parametrize("name", sorted(NOISY_ARGS))
def test_noisy_runs_rerun_bit_for_bit_and_the_seed_matters(name, in_tmp, capsys):
    args = NOISY_ARGS[name]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    written = out.split()
    (in_tmp / "again").mkdir()
    code, _, err = cli(capsys, "rerun", [p for p in written if p.endswith(".run.toml")][0], "--out-dir", "again")
    assert code == 0, err
    npz = [p for p in written if p.endswith(".npz")][0]
    assert (in_tmp / npz).read_bytes() == (in_tmp / "again" / npz).read_bytes()
    (in_tmp / "other").mkdir()
    code, _, err = cli(capsys, *_replaced(args, {"--seed": "99", "--out": "other/x.png", "--data": "other/x.npz"}))
    assert code == 0, err
    first, other = np.load(in_tmp / npz), np.load(in_tmp / "other" / "x.npz")
    key = "iterates_x_0" if "iterates_x_0" in first.files else "final_loss"
    assert not np.array_equal(first[key], other[key], equal_nan=True)


def test_a_refused_combination_says_so_even_where_the_output_exists(tmp_path, monkeypatch):
    # the checks among options come before the output paths: an existing default figure does not
    # turn a refusal into "exists; pass --overwrite" (which would then fail differently)
    monkeypatch.chdir(tmp_path)
    for name in ("simulate_plot.png", "simulate_sweep.png", "simulate_order.png"):
        (tmp_path / name).write_bytes(b"earlier")
    refusals = (("plot", {"three_d": True, "animate": "a.gif"}, "give --3d or --animate, not both"),
                ("plot", {"start": ["0,0"], "random_starts": 3}, "not both"),
                ("plot", {"paths": 5}, "act on stochastic gradients"),
                ("sweep", {"record_every": 5}, "give --data FILE.npz too"),
                ("sweep", {"start": ["0,0", "1,1"]}, "sweep takes one start point"),
                ("order", {"lrs": [0.1, 0.05], "rungs": 3}, "give lrs, or rungs and ratio"))
    for command, options, message in refusals:
        with pytest.raises(ValueError, match=message):
            sim.run(command, options)
    assert all((tmp_path / n).read_bytes() == b"earlier" for n in ("simulate_plot.png", "simulate_sweep.png"))
