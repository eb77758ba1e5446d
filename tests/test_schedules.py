"""Learning-rate schedules: torch's sequences to the bit, the iterates step for step with torch's
optimizers and schedulers, the clock t_k = Σ lr_j, GD on a quadratic as the product of
(I − lr_k·A), the scheduled lift whose Euler steps are the iterates, and convergence to the flow."""

import numpy as np
import pytest
import torch
from scipy.stats import linregress

import simulate as sim
from simulate.optimizers.schedules import schedule


TS = torch.optim.lr_scheduler


def torch_lrs(make, base, steps, optimizer=torch.optim.SGD):
    """The lr torch's optimizer uses at steps 1..steps under the scheduler ``make(opt)``."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = optimizer([p], lr=base)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros_like(p)
        opt.step()
        sched.step()
    return np.array(out, dtype=np.float64)


def warm(main, w=5, start=0.01):
    """torch's warmup: SequentialLR([LinearLR(start, 1, w), main], milestones=[w])."""
    return lambda o: TS.SequentialLR(o, [TS.LinearLR(o, start, 1.0, w), main(o)], milestones=[w])


CASES = [
    ("step(step_size=3, gamma=0.5)", lambda o: TS.StepLR(o, 3, 0.5), 30),
    ("multistep(milestones=(3, 7, 7), gamma=0.3)", lambda o: TS.MultiStepLR(o, [3, 7, 7], 0.3), 20),
    ("exponential(gamma=0.93)", lambda o: TS.ExponentialLR(o, 0.93), 60),
    ("cosine(T_max=10, eta_min=0.001)", lambda o: TS.CosineAnnealingLR(o, 10, 0.001), 45),  # past T_max: it rises
    ("cosine", lambda o: TS.CosineAnnealingLR(o, 40), 40),  # T_max: the run's length
    ("linear(start_factor=0.25, end_factor=0.9, total_iters=8)", lambda o: TS.LinearLR(o, 0.25, 0.9, 8), 20),
    ("polynomial(total_iters=12, power=2)", lambda o: TS.PolynomialLR(o, 12, 2.0), 20),
    ("onecycle(total_steps=40, pct_start=0.25)",
     lambda o: TS.OneCycleLR(o, o.param_groups[0]["lr"], total_steps=40, pct_start=0.25, cycle_momentum=False), 40),
    ("onecycle(total_steps=30, three_phase=true, anneal_strategy='linear')",
     lambda o: TS.OneCycleLR(o, o.param_groups[0]["lr"], total_steps=30, three_phase=True, anneal_strategy="linear",
                             cycle_momentum=False), 30),
    ("inverse-sqrt(t0=4)", lambda o: TS.LambdaLR(o, lambda k: (1 + k / 4) ** -0.5), 30),
    ("inverse-time(t0=10)", lambda o: TS.LambdaLR(o, lambda k: 1 / (1 + k / 10)), 30),
    ("cosine(T_max=20, eta_min=0.002, warmup=5)", warm(lambda o: TS.CosineAnnealingLR(o, 20, 0.002)), 25),
    ("step(step_size=4, gamma=0.5, warmup=6, warmup_start=0.1)", warm(lambda o: TS.StepLR(o, 4, 0.5), 6, 0.1), 30),
    ("exponential(gamma=0.9, warmup=3)", warm(lambda o: TS.ExponentialLR(o, 0.9), 3), 20),
    ("constant(warmup=7)", warm(lambda o: TS.LambdaLR(o, lambda k: 1.0), 7), 15),
    ("linear(start_factor=0.5, total_iters=4, warmup=3)", warm(lambda o: TS.LinearLR(o, 0.5, 1.0, 4), 3), 12),
]


@pytest.mark.parametrize("spec, make, steps", CASES, ids=[c[0] for c in CASES])
def test_the_sequence_is_torchs_to_the_bit(spec, make, steps):
    for base in (0.1, 0.037):
        np.testing.assert_array_equal(schedule(spec).lrs(base, steps), torch_lrs(make, base, steps))
    both = schedule(spec).lrs(np.array([0.1, 0.037]), steps)  # a sweep over lr: one vectorized sequence
    assert both.shape == (steps, 2)
    np.testing.assert_array_equal(both[:, 1], torch_lrs(make, 0.037, steps))


def test_a_lambda_formula_is_read_not_evaluated_and_torch_multiplies_by_it():
    s = schedule("lambda(f='0.95**k / (1 + 0.01*k)')")
    factors = 0.95 ** np.arange(30) / (1 + 0.01 * np.arange(30))
    np.testing.assert_allclose(s.lrs(0.2, 30), 0.2 * factors, rtol=1e-14)
    ours = s._factor(np.arange(31))  # torch asks for one more after the last step
    np.testing.assert_array_equal(s.lrs(0.2, 30), torch_lrs(lambda o: TS.LambdaLR(o, lambda k: float(ours[k])), 0.2, 30))
    for bad, message in (("lambda(f='__import__(1)')", "unknown function"), ("lambda(f='x + 1')", "unknown name 'x'"),
                         ("lambda(f='1 - k')", "must be finite and >= 0")):
        with pytest.raises(ValueError, match=message):
            schedule(bad).lrs(0.1, 5)


def test_names_specs_and_refusals():
    assert schedule("CosineAnnealingLR(T_max=7)") == schedule("cosine(T_max=7)")
    assert schedule("constant") is None and schedule(None) is None
    for s in ("cosine(T_max=7, warmup=2)", "onecycle(total_steps=9, pct_start=0.5)", "inverse-sqrt(t0=3)", "step(step_size=2)"):
        assert schedule(schedule(s).spec) == schedule(s), s
    for bad, message in (("cosin", "Did you mean 'cosine'"), ("step(gama=0.5)", "unknown parameter 'gama'"),
                         ("step(step_size=0)", "step_size must be a whole number >= 1"),
                         ("exponential(gamma=-1)", "gamma must be a finite number > 0"),
                         ("onecycle(warmup=5)", "its own warmup"), ("onecycle(anneal_strategy='square')", "'cos' or 'linear'"),
                         ("cosine(warmup_start=0.5)", "warmup_start needs warmup")):
        with pytest.raises(ValueError, match=message):
            schedule(bad)
    with pytest.raises(ValueError, match="shorter than the run"):
        schedule("onecycle(total_steps=10)").lrs(0.1, 20)
    opt = sim.optimizer("momentum(lr=0.1, schedule='cosine(T_max=50, warmup=5)')")
    assert sim.optimizer(opt.spec) == opt and "schedule='cosine(T_max=50, warmup=5)'" in opt.label
    with pytest.raises(ValueError, match="momentum: schedule: .*Did you mean"):
        sim.optimizer("momentum", schedule="cosin")


# -- the iterates ------------------------------------------------------------------------------------
TORCH_OPT = {"momentum": (torch.optim.SGD, dict(momentum=0.9)), "nesterov": (torch.optim.SGD, dict(momentum=0.9, nesterov=True)),
             "adam": (torch.optim.Adam, {}), "rmsprop": (torch.optim.RMSprop, {}), "adagrad": (torch.optim.Adagrad, {}),
             "gd": (torch.optim.SGD, {}), "adamw": (torch.optim.AdamW, {})}


@pytest.mark.parametrize("name, lr, spec, make", [
    ("momentum", 0.002, "cosine(T_max=60, warmup=10)", warm(lambda o: TS.CosineAnnealingLR(o, 60), 10)),
    ("nesterov", 0.002, "step(step_size=15, gamma=0.5)", lambda o: TS.StepLR(o, 15, 0.5)),
    ("adam", 0.05, "onecycle(total_steps=70)", lambda o: TS.OneCycleLR(o, 0.05, total_steps=70, cycle_momentum=False)),
    ("adamw", 0.05, "exponential(gamma=0.97)", lambda o: TS.ExponentialLR(o, 0.97)),
    ("rmsprop", 0.005, "linear(start_factor=0.1, total_iters=20)", lambda o: TS.LinearLR(o, 0.1, 1.0, 20)),
    ("adagrad", 0.2, "inverse-sqrt(t0=5)", lambda o: TS.LambdaLR(o, lambda k: (1 + k / 5) ** -0.5)),
])
def test_iterates_agree_with_torch_optimizer_and_scheduler(name, lr, spec, make):
    land, x0, steps = sim.landscape("rosenbrock"), np.array([-1.2, 1.0]), 70
    ours = sim.iterate(land, sim.optimizer(name, lr=lr, schedule=spec), x0, steps).x[1:]
    cls, kw = TORCH_OPT[name]
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = cls([p], lr=lr, **kw)
    sched = make(opt)
    ref = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(land.grad(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        sched.step()
        ref.append(p.detach().numpy().copy())
    assert np.max(np.abs(ours - np.array(ref))) <= 1e-12 * np.max(np.abs(ref))


def test_gd_on_a_quadratic_is_the_product_of_its_steps_and_its_clock_is_the_sum_of_lrs():
    land = sim.landscape("quadratic(eigenvalues=(3, 0.5), angle=0.6)")
    A = land.hess(np.zeros(2))
    assert A[0, 1] != 0  # rotated: the coordinates mix
    for spec in ("cosine(warmup=10)", "step(step_size=7, gamma=0.5)", "onecycle", "inverse-time(t0=3)"):
        opt = sim.optimizer("gd", lr=0.3, schedule=spec)
        run = sim.iterate(land, opt, [1.0, -2.0], 60)
        lrs = opt.lrs(60)
        x = np.array([1.0, -2.0])
        for k in range(60):
            x = (np.eye(2) - lrs[k] * A) @ x
            np.testing.assert_allclose(run.x[k + 1], x, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(run.t, np.concatenate([[0.0], np.cumsum(lrs)]))
        assert run.stats["schedule"] == opt.schedule.spec


def test_a_sweep_over_lr_runs_every_schedule_at_once():
    lrs = np.array([0.01, 0.02, 0.04])
    opt = sim.optimizer("momentum", lr=lrs, schedule="cosine(T_max=30)")
    run = sim.iterate("himmelblau", opt, [0.0, 0.0], 30)
    assert run.t.shape == (31, 3)
    for j, lr in enumerate(lrs):
        one = sim.iterate("himmelblau", sim.optimizer("momentum", lr=lr, schedule="cosine(T_max=30)"), [0.0, 0.0], 30)
        np.testing.assert_array_equal(run.x[:, j], one.x)
        np.testing.assert_array_equal(run.t[:, j], one.t)


# -- the continuous view ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["momentum(lr=0.001, momentum=0.8, dampening=0.3)", "nesterov(lr=0.001)", "adam(lr=0.05)",
                                  "rmsprop(lr=0.01, momentum=0.5)", "adagrad(lr=0.1, lr_decay=0.01)", "gd(lr=0.001)"])
def test_a_semi_implicit_euler_step_of_the_scheduled_lift_is_the_scheduled_step(spec):
    """Step k of the lift, from t_{k−1} with size h_k = h(lr_k), reproduces discrete step k."""
    opt = sim.optimizer(spec, schedule="cosine(T_max=40, eta_min=0.001, warmup=5)")
    land = sim.landscape("rosenbrock")
    steps = 40
    model = sim.flow(opt, "exact").for_steps(steps)
    run = sim.iterate(land, opt, [-1.2, 1.0], steps)
    clock = model.schedule_clock
    state = model.init(np.array([-1.2, 1.0]), land)
    for k in range(1, steps + 1):
        h, t = float(clock.h[k - 1]), float(clock.times[k - 1])
        new = dict(state)
        for name in state:
            new[name] = state[name] + h * model.field(t, new, land)[name]
        state = new
        np.testing.assert_allclose(state["x"], run.x[k], rtol=1e-10, atol=1e-12)


def test_gd_with_a_decaying_schedule_approaches_the_gradient_flow_at_the_rate_of_its_largest_step():
    """GD's path with steps lr_k is Euler on the same gradient flow: the gap at the shared times
    t_k shrinks like the largest step (slope 1 in lr)."""
    land = sim.landscape("himmelblau")
    errors, peaks = [], []
    for lr in 0.01 / 2 ** np.arange(4):
        steps = int(round(0.5 / lr))
        opt = sim.optimizer("gd", lr=lr, schedule="cosine(eta_min=0.0)")
        exp = sim.run_experiment(land, [opt], [0.0, 0.0], steps, flow_samples=10, rtol=1e-12, atol=1e-14)
        errors.append(float(np.max(exp.entries[0].comparison.distance)))
        peaks.append(float(np.max(opt.lrs(steps))))
        assert exp.entries[0].flow.t[-1] == pytest.approx(exp.entries[0].iterates.t[-1], rel=1e-12)
    assert linregress(np.log(peaks), np.log(errors)).slope == pytest.approx(1.0, abs=0.1)


def test_models_that_assume_a_constant_lr_are_refused_and_the_flow_needs_the_runs_length():
    opt = sim.optimizer("momentum(lr=0.01)", schedule="step(step_size=10)")
    with pytest.raises(ValueError, match="limit flow: it assumes a constant lr.*use flow 'exact'"):
        sim.flow(opt, "limit")
    with pytest.raises(ValueError, match="give steps="):
        sim.integrate("himmelblau", opt, [0.0, 0.0], np.linspace(0, 1, 5))
    flow = sim.integrate("himmelblau", opt, [0.0, 0.0], steps=30)
    np.testing.assert_allclose(flow.t, np.concatenate([[0.0], np.cumsum(opt.lrs(30))]))
    with pytest.raises(ValueError, match="without a schedule"):
        sim.iterate("himmelblau", sim.optimizer("gd(lr=0.01)", schedule="cosine"), steps=5, engine="compiled")


# -- the figure and the command line --------------------------------------------------------------
def test_the_plot_draws_each_steps_lr_and_the_threshold_along_the_schedule():
    result = sim.plot("himmelblau", ["gd(lr=0.01)", "adam(lr=0.1)"], steps=60, schedule="cosine(warmup=10)", sharpness=True)
    ax = next(a for a in result.figure.axes if a.get_ylabel() == "lr_k")
    assert len(ax.lines) == 2
    for line, e in zip(ax.lines, result.experiment.entries):
        lrs = e.optimizer.lrs(60)
        np.testing.assert_array_equal(line.get_ydata()[:-1], lrs)
        np.testing.assert_array_equal(line.get_xdata(), e.iterates.steps)  # steps: the optimizers' clocks differ
    sharp = next(a for a in result.figure.axes if a.get_ylabel().startswith("sharpness"))
    gd = result.experiment.entries[0]
    dashed = [l for l in sharp.lines if l.get_linestyle() == "--"][0]
    np.testing.assert_allclose(dashed.get_ydata()[:-1], 2 / gd.optimizer.lrs(60))  # 2/lr_k
    np.testing.assert_array_equal(gd.flow.every(gd.flow_every).t, gd.iterates.t)  # the flow on the same clock


def test_cli_schedule_and_warmup_reach_every_optimizer_and_rerun_bit_for_bit(tmp_path, monkeypatch, capsys):
    from simulate.cli.app import main
    from simulate.analysis.experiment import Experiment

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--schedule", "step(step_size=10, gamma=0.5)", "--warmup", "5", "--steps", "40",
                 "-o", "gd(lr=0.01)", "-o", "adam(lr=0.05, schedule='exponential(gamma=0.9)')",
                 "--out", "s.png", "--data", "s.npz"]) == 0
    exp = Experiment.load(tmp_path / "s.npz")
    assert exp.entries[0].optimizer.schedule == schedule("step(step_size=10, gamma=0.5, warmup=5)")
    assert exp.entries[1].optimizer.schedule == schedule("exponential(gamma=0.9)")  # its own kept
    np.testing.assert_array_equal(exp.entries[0].iterates.t[1:], np.cumsum(exp.entries[0].optimizer.lrs(40)))
    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "again").mkdir()
    assert main(["rerun", "s.run.toml", "--out-dir", "again"]) == 0
    assert (tmp_path / "again" / "s.npz").read_bytes() == data
    capsys.readouterr()
    assert main(["plot", "--schedule", "cosin", "--out", "x.png"]) == 2
    assert "Did you mean 'cosine'" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
    assert main(["plot", "--warmup", "5", "--steps", "10", "-o", "gd(lr=0.01)", "--out", "w.png", "--data", "w.npz"]) == 0
    np.testing.assert_allclose(Experiment.load(tmp_path / "w.npz").entries[0].optimizer.lrs(10)[5:], 0.01)


def test_a_sweep_over_warmup_and_peak_lr_is_one_run_per_cell_and_its_flow_ends_on_the_cells_clock():
    from simulate.analysis.sweep import sweep

    sw = sweep("himmelblau", ["momentum(momentum=0.8)"], ["warmup=0:20:3", "lr=0.005:0.02:2"], steps=40,
               schedule="cosine(eta_min=0.001)", flow="exact", record_every=40)
    for i, w in enumerate((0, 10, 20)):
        for j, lr in enumerate((0.005, 0.02)):
            opt = sim.optimizer("momentum", lr=lr, momentum=0.8, schedule=schedule("cosine(eta_min=0.001)", warmup=w))
            run = sim.iterate("himmelblau", opt, [0.0, 0.0], 40)
            np.testing.assert_array_equal(sw.paths[0, -1, i, j], run.x[-1])
            flow = sim.integrate("himmelblau", opt, [0.0, 0.0], steps=40)
            np.testing.assert_allclose(sw.metrics["final_loss"][1, i, j], flow.f[-1], rtol=1e-4, atol=1e-12)
    with pytest.raises(ValueError, match="no hyperparameter 'warmup'"):
        sweep("himmelblau", ["momentum"], ["warmup=0:20:3"], steps=5)  # no schedule: no such axis


def test_cli_sweep_takes_the_schedule_and_its_axes(tmp_path, monkeypatch):
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "-l", "himmelblau", "-o", "gd", "--schedule", "step(step_size=10)", "--vary", "step_size=5:15:3",
                 "--vary", "lr=0.005:0.01:2", "--steps", "30", "--out", "s.png", "--data", "s.npz"]) == 0
    import csv

    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == 3 * 2  # one row per cell
    for row in rows:
        opt = sim.optimizer("gd", lr=float(row["lr"]), schedule=f"step(step_size={int(float(row['step_size']))})")
        run = sim.iterate("himmelblau", opt, [0.0, 0.0], 30)
        assert float(row["final_loss"]) == float(run.f[-1])  # each cell ran its own schedule


# -- edges found in review ---------------------------------------------------------------------------
def test_a_schedule_that_reaches_lr_zero_runs_and_its_flow_holds_still_there():
    opt = sim.optimizer("momentum(lr=0.01)", schedule="cosine(T_max=10)")  # lr_11 = 0, then it rises again
    exp = sim.run_experiment("himmelblau", [opt], [0.0, 0.0], 30)
    run, flow = exp.entries[0].iterates, exp.entries[0].flow
    assert opt.lrs(30)[10] == 0.0 and run.t[11] == run.t[10]
    assert flow.status == 0 and np.all(np.isfinite(flow.x))
    np.testing.assert_array_equal(flow.every(exp.entries[0].flow_every).t, run.t)
    stop = sim.optimizer("gd(lr=0.01)", schedule="polynomial(total_iters=10)")  # lr 0 from step 11 on: stands still
    r = sim.iterate("himmelblau", stop, [0.0, 0.0], 20)
    np.testing.assert_array_equal(r.x[11:], np.broadcast_to(r.x[10], r.x[11:].shape))
    fig = sim.plot("himmelblau", ["gd(lr=0.01)"], steps=20, schedule="lambda(f='0')", sharpness=True).figure
    assert fig is not None  # 2/lr_k is infinite everywhere: no threshold drawn, no crash


def test_many_cells_with_a_flow_and_lengths_checked_for_the_runs_steps():
    from simulate.analysis.sweep import sweep

    sw = sweep("himmelblau", ["gd"], ["warmup=0:39:40", "lr=0.001:0.01:5"], steps=50, schedule="cosine", flow="exact")
    assert sw.metrics["final_loss"].shape == (2, 40, 5) and np.all(np.isfinite(sw.metrics["final_loss"]))
    one = sim.integrate("himmelblau", sim.optimizer("gd", lr=0.01, schedule="cosine(warmup=39)"), [0.0, 0.0], steps=50)
    assert sw.metrics["final_loss"][1, 39, 4] == pytest.approx(float(one.f[-1]), rel=1e-5, abs=1e-12)
    sweep("himmelblau", ["gd"], ["pct_start=0:1:5"], steps=50, schedule="onecycle")  # valid for 50 steps
    sweep("himmelblau", ["gd"], ["warmup=0:40:5"], steps=50, schedule=schedule("constant", warmup=10))
    with pytest.raises(ValueError, match="its schedule sets warmup and the axis warmup sweeps it"):
        sweep("himmelblau", [sim.optimizer("gd", schedule="cosine(warmup=5)")], ["warmup=0:10:3"], steps=20)
    with pytest.raises(ValueError, match="shorter than the run"):
        sweep("himmelblau", ["gd"], ["total_steps=10:60:3"], steps=50, schedule="onecycle")


def test_steps_read_back_from_a_file_and_constant_lr_tools_refuse_schedules(tmp_path):
    exp = sim.run_experiment("himmelblau", [sim.optimizer("gd(lr=0.01)", schedule="cosine(warmup=10)")], [0.0, 0.0], 50)
    exp.save(tmp_path / "a.npz")
    back = sim.Experiment.load(tmp_path / "a.npz").entries[0]
    np.testing.assert_allclose(back.iterates.steps, np.arange(51), atol=1e-9)
    np.testing.assert_allclose(back.flow.steps, exp.entries[0].flow.steps, atol=1e-9)
    scheduled = sim.optimizer("gd(lr=0.01)", schedule="cosine")
    with pytest.raises(ValueError, match="order ladder scales one constant lr"):
        sim.order("himmelblau", scheduled)
    from simulate.analysis.ratemap import rate_map
    with pytest.raises(ValueError, match="a rate map is the spectrum of one constant linear step"):
        rate_map(scheduled, "lr_lambda=0.1:2:5", "momentum=0:0.9:3")
    from simulate.viz.explorer import Explorer
    ex = Explorer("himmelblau", ["gd(lr=0.01, schedule='cosine')"], steps=40)
    np.testing.assert_array_equal(np.column_stack(ex.iterate_lines[0].get_data()),
                                  sim.iterate("himmelblau", scheduled, steps=40).x)


def test_cli_refuses_two_warmups_and_text_where_numbers_belong(tmp_path, monkeypatch, capsys):
    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--schedule", "cosine(warmup=10)", "--warmup", "5", "--out", "x.png"]) == 2
    assert "drop one" in capsys.readouterr().err
    assert main(["plot", "-o", "gd(lr='0.1')", "--out", "x.png"]) == 2
    assert "only numbers" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_from_a_trial_required_parameters_data_and_the_shared_clock(tmp_path):
    for bad, message in (("step", "give step_size"), ("lambda", "give the factor f")):
        with pytest.raises(ValueError, match=message):
            schedule(bad)
    opts = [sim.optimizer(n, lr=0.01, schedule="multistep(milestones=(10, 20))") for n in ("gd", "momentum", "nesterov")]
    assert sim.stability_threshold(opts[0]) is None  # lr moves: no one line (the figure draws it per step)
    result = sim.plot("himmelblau", opts, steps=30, sharpness=True)
    loss_ax = result.figure.axes[1]
    assert loss_ax.get_xlabel() == "time t"  # the same step sizes: one clock, t is shown
    arrays = result.experiment.arrays()
    np.testing.assert_array_equal(arrays["lr_0"], opts[0].lrs(30))
    np.testing.assert_array_equal(arrays["stability_threshold_0"], 2 / opts[0].lrs(30))
    mixed = sim.plot("himmelblau", [opts[0], sim.optimizer("adam(lr=0.1)", schedule="cosine")], steps=30)
    assert mixed.figure.axes[1].get_xlabel() == "steps k"  # different clocks: steps, not "t / h"
