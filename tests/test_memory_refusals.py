"""Every command that runs estimates its records' memory before any work and refuses a run that
would not fit, naming the estimate and the option that makes it fit (issue 19): plot with noise
(ensembles of paths), rate-map, the demos and the explorer. The limit is lowered to just under
each run's own estimate, and the work itself is replaced by a function that fails the test."""

import pytest

import simulate.solvers.trajectory as trajectory


def _no_work(*args, **kwargs):
    raise AssertionError("work began before the memory check")


def _limit(monkeypatch, total: int):
    monkeypatch.setattr(trajectory, "MAX_RECORD_BYTES", total)


def test_a_noisy_plot_is_refused_before_any_path_runs(monkeypatch, tmp_path, capsys):
    import simulate.analysis.ensembles as ensembles
    from simulate.cli.app import main
    from simulate.optimizers import optimizer

    opts = [optimizer("sgd(lr=0.01)"), optimizer("adam(lr=0.01)")]
    notes = ["", opts[1].sde_refusal() or ""]
    parts = ensembles.ensemble_memory(opts, notes, 51, 300, 2)
    estimate = sum(size for _, size in parts)
    assert estimate == 4 * 8 * 51 * 300 * 4 * (3 + (notes[1] == "")) + 2 * 4 * 8 * 51 * 6  # x, f, t per sample, copies
    _limit(monkeypatch, estimate - 1)  # just over
    monkeypatch.setattr(ensembles, "iterate", _no_work)
    code = main(["plot", "-o", "sgd(lr=0.01)", "-o", "adam(lr=0.01)", "--noise", "0.5", "--paths", "300",
                 "--steps", "50", "--out", str(tmp_path / "n.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: this run would record about {estimate / 2**30:.3g} GiB ({len(parts)} records")
    assert err.endswith("use fewer --paths or fewer --steps") and "gd(lr=0.01)'s noisy iterates (51 x 300 x 2)" in err
    assert list(tmp_path.iterdir()) == []


def test_a_noisy_plot_just_under_the_limit_runs(monkeypatch):
    import simulate as sim
    import simulate.analysis.ensembles as ensembles
    from simulate.optimizers import optimizer

    parts = ensembles.ensemble_memory([optimizer("sgd(lr=0.01)")], [""], 11, 5, 2)
    _limit(monkeypatch, sum(size for _, size in parts))
    assert sim.plot("himmelblau", ["sgd(lr=0.01)"], steps=10, noise=0.5, paths=5).experiment.paths == 5


def test_rate_map_is_refused_before_its_matrices_and_sweeps(monkeypatch, tmp_path, capsys):
    import simulate.analysis.ratemap as ratemap
    from simulate.cli.app import main
    from simulate.optimizers import optimizer

    parts = [p for name in ("momentum", "nesterov")
             for p in ratemap.rate_map_memory(optimizer(name), 50, 40, 2, measured=True)]
    estimate = sum(size for _, size in parts)
    assert estimate == 2 * 2 * (4 * 8 * 4 * 2000 * (2 + 2))  # per map: n + modes = 4 and 2 + n = 4 samples, n = 2
    _limit(monkeypatch, estimate - 1)
    monkeypatch.setattr(ratemap, "linear_rate", _no_work)
    monkeypatch.setattr(ratemap, "sweep", _no_work)
    code = main(["rate-map", "-l", "himmelblau", "--lr-lambda", "0.1:3:50", "--vary", "momentum=0.1:0.9:40",
                 "--out", str(tmp_path / "r.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: this run would record about {estimate / 2**30:.3g} GiB (4 records, the largest")
    assert err.endswith("use fewer points on --lr-lambda or --vary (their NUM)")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="their NUM"):  # one map from Python is checked too
        ratemap.rate_map("momentum", "lr_lambda=0.1:3:50", "momentum=0.1:0.9:80", landscape="himmelblau")


def test_a_demo_is_refused_before_any_work_and_says_its_size_is_fixed(monkeypatch, tmp_path):
    import simulate.viz.figures as figures
    from simulate.cli.demos import demo

    _limit(monkeypatch, 1000)
    monkeypatch.setattr(figures, "run_experiment", _no_work)
    with pytest.raises(ValueError) as refused:
        demo("optimizers-and-flows", tmp_path / "d.png")
    message = str(refused.value)
    assert message.startswith("demo optimizers-and-flows: this run would record about ")
    assert message.endswith("a demo's size is fixed; free some memory, or run simulate plot with its options "
                            "(--dump-config) and fewer --steps or fewer starts")
    assert list(tmp_path.iterdir()) == []


def test_the_explorer_is_refused_before_it_runs_or_opens_a_window(monkeypatch):
    from matplotlib.figure import Figure

    import simulate.viz.explorer as explorer

    parts = trajectory.runs_memory(["gd"], 2001, 1, 2, flow_samples=explorer.FLOW_SAMPLES)
    _limit(monkeypatch, sum(size for _, size in parts) - 1)
    monkeypatch.setattr(explorer, "iterate", _no_work)
    monkeypatch.setattr(explorer, "can_show", _no_work)
    for make in (lambda: explorer.Explorer("himmelblau", ["gd(lr=0.01)"], steps=2000, figure=Figure()),
                 lambda: explorer.explore("himmelblau", ["gd(lr=0.01)"], steps=2000)):
        with pytest.raises(ValueError, match=r"would record about .* gd's iterates \(2001 x 1 x 2\).*: use fewer --steps$"):
            make()
