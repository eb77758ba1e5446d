"""Gradient transforms: torch's clip_grad_norm_/clip_grad_value_ and per-coordinate learning rates
step for step; the clipped gradient flow runs the gradient flow's path on another clock; the
preconditioned flow's closed form; the transformed lift's Euler steps are the iterates."""

import numpy as np
import pytest
import torch
from scipy.linalg import expm

import simulate as sim
from simulate.optimizers.transforms import TransformedGradients, clip

from helpers import central_difference

LAND = sim.landscape("rosenbrock")
X0 = np.array([-1.2, 1.0])


def torch_run(make, x0, steps, clip_norm=None, clip_value=None, per_coordinate_lr=None, land=LAND):
    """torch with the transforms as a training loop applies them: clip p.grad, then step. With
    ``per_coordinate_lr``, one scalar parameter (and param group) per coordinate."""
    if per_coordinate_lr is None:
        params = [torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))]
        opt = make([{"params": params}])
    else:
        params = [torch.nn.Parameter(torch.tensor([v], dtype=torch.float64)) for v in x0]
        opt = make([{"params": [p], "lr": lr} for p, lr in zip(params, per_coordinate_lr)])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        x = np.concatenate([p.detach().numpy() for p in params])
        g = land.grad(x)
        if per_coordinate_lr is None:
            params[0].grad = torch.tensor(g, dtype=torch.float64)
        else:
            for p, gi in zip(params, g):
                p.grad = torch.tensor([gi], dtype=torch.float64)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, clip_value)
        opt.step()
        out.append(np.concatenate([p.detach().numpy().copy() for p in params]))
    return np.array(out)


@pytest.mark.parametrize("spec, make", [
    ("gd(lr=0.001, clip_norm=2.0)", lambda g: torch.optim.SGD(g, lr=0.001)),
    ("momentum(lr=0.001, momentum=0.9, weight_decay=0.01, clip_norm=5.0)",
     lambda g: torch.optim.SGD(g, lr=0.001, momentum=0.9, weight_decay=0.01)),
    ("adam(lr=0.05, clip_norm=1.0)", lambda g: torch.optim.Adam(g, lr=0.05)),
    ("gd(lr=0.001, clip_value=3.0)", lambda g: torch.optim.SGD(g, lr=0.001)),
    ("rmsprop(lr=0.01, clip_norm=10.0, clip_value=2.0)", lambda g: torch.optim.RMSprop(g, lr=0.01)),
])
def test_clipped_steps_agree_with_torchs_clip_and_step(spec, make):
    opt = sim.optimizer(spec)
    ours = sim.iterate(LAND, opt, X0, 80).x[1:]
    ref = torch_run(make, X0, 80, clip_norm=opt.clip_norm, clip_value=opt.clip_value)
    assert np.max(np.abs(ours - ref)) <= 1e-12 * np.max(np.abs(ref))
    plain = sim.iterate(LAND, sim.optimizer(spec.split(", clip")[0] + ")"), X0, 80).x[1:]
    assert np.max(np.abs(plain - ours)) > 1e-3  # the clip did act


@pytest.mark.parametrize("spec, make", [
    ("gd(lr=0.0005, lr_scale=(1, 4))", lambda g: torch.optim.SGD(g, lr=0.0005)),
    ("momentum(lr=0.0005, momentum=0.8, lr_scale=(2, 0.5))", lambda g: torch.optim.SGD(g, lr=0.0005, momentum=0.8)),
    ("adam(lr=0.02, lr_scale=(1, 3))", lambda g: torch.optim.Adam(g, lr=0.02)),
])
def test_per_coordinate_lr_is_torch_with_one_param_group_per_coordinate(spec, make):
    opt = sim.optimizer(spec)
    ours = sim.iterate(LAND, opt, X0, 60).x[1:]
    ref = torch_run(make, X0, 60, per_coordinate_lr=[float(opt.lr) * s for s in opt.lr_scale])
    assert np.max(np.abs(ours - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_the_clipped_gradient_and_its_jacobian():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2)) * 1.5
    g = LAND.grad(x)
    norms = np.linalg.norm(g, axis=-1)
    c = np.median(norms)  # half the points clipped
    clipped = clip(g, c)
    big = norms > c
    np.testing.assert_allclose(np.linalg.norm(clipped[big], axis=-1), c * norms[big] / (norms[big] + 1e-6), rtol=1e-14)
    np.testing.assert_array_equal(clipped[~big], g[~big])
    for kw in (dict(clip_norm=c), dict(clip_value=50.0), dict(clip_norm=c, clip_value=30.0)):
        wrapped = TransformedGradients(LAND, **kw)
        for point in x:
            np.testing.assert_allclose(wrapped.hess(point), central_difference(wrapped.grad, point), rtol=1e-5, atol=1e-5)


def test_gd_with_clipping_traces_the_gradient_flows_path_only_the_clock_changes():
    """ẋ = −c∇f/(|∇f| + ε) where the clip is active: a time change of ẋ = −∇f."""
    land = sim.landscape("himmelblau")
    plain = sim.integrate(land, "gd(lr=0.01)", [0.0, 0.0], np.linspace(0, 3, 60001), rtol=1e-11, atol=1e-13)
    clipped = sim.integrate(land, "gd(lr=0.01, clip_norm=1.0)", [0.0, 0.0], steps=4000, rtol=1e-11, atol=1e-13)
    path = plain.x[np.isfinite(plain.x).all(-1)]
    seg_a, seg_b = path[:-1], path[1:]

    def distance_to_path(p):
        d = seg_b - seg_a
        s = np.clip(np.einsum("ij,ij->i", p - seg_a, d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-300), 0, 1)
        return np.min(np.linalg.norm(seg_a + s[:, None] * d - p, axis=-1))

    assert max(distance_to_path(p) for p in clipped.x[::40]) < 1e-4  # on the same curve
    bent = sim.integrate(land, "gd(lr=0.01, clip_value=1.0)", [0.0, 0.0], steps=4000, rtol=1e-11, atol=1e-13)
    assert max(distance_to_path(p) for p in bent.x[::40]) > 1e-2  # value clipping changes the path: the test can tell
    # but later in time: at t = 1 the plain flow is much further along
    k = 100  # t = 1
    assert np.linalg.norm(clipped.x[k] - [0.0, 0.0]) < 0.5 * np.linalg.norm(plain.x[2000] - [0.0, 0.0])
    run = sim.iterate(land, "gd(lr=0.001, clip_norm=1.0)", [0.0, 0.0], 2000)
    assert max(distance_to_path(p) for p in run.x[::100]) < 1e-2  # small-lr iterates follow it too


def test_the_preconditioned_flow_is_the_closed_form_on_a_quadratic():
    land = sim.landscape("quadratic(eigenvalues=(1, 5), angle=0.4)")
    A = land.hess(np.zeros(2))
    P = np.diag([3.0, 0.5])
    flow = sim.integrate(land, "gd(lr=0.01, lr_scale=(3, 0.5))", [1.0, -1.0], steps=200, rtol=1e-12, atol=1e-14)
    for k in (0, 50, 200):
        exact = expm(-flow.t[k] * P @ A) @ np.array([1.0, -1.0])
        np.testing.assert_allclose(flow.x[k], exact, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("spec", ["momentum(lr=0.001, momentum=0.8, clip_norm=3.0, lr_scale=(1, 2))",
                                  "adam(lr=0.02, clip_value=5.0, lr_scale=(2, 1))",
                                  "gd(lr=0.001, clip_norm=2.0, schedule='cosine')"])
def test_a_semi_implicit_euler_step_of_the_transformed_lift_is_the_step(spec):
    opt = sim.optimizer(spec)
    model = sim.flow(opt, "exact").for_steps(30)
    run = sim.iterate(LAND, opt, X0, 30)
    state = model.init(X0, LAND)
    clock = model.schedule_clock
    for k in range(1, 31):
        h = float(opt.lr) if clock is None else float(clock.h[k - 1])
        t = (k - 1) * h if clock is None else float(clock.times[k - 1])
        new = dict(state)
        for name in state:
            new[name] = state[name] + h * model.field(t, new, LAND)[name]
        state = new
        np.testing.assert_allclose(state["x"], run.x[k], rtol=1e-10, atol=1e-12)


def test_refusals_and_the_plot_rings_clipped_steps(tmp_path, monkeypatch, capsys):
    from simulate.cli.app import main

    for kw, message in ((dict(clip_norm=-1), "clip_norm must be a positive number"),
                        (dict(clip_value="big"), "clip_value must be a positive number"),
                        (dict(lr_scale=(1, -2)), "lr_scale must be positive")):
        with pytest.raises(ValueError, match=message):
            sim.optimizer("gd", **kw)
    with pytest.raises(ValueError, match="lr_scale has 3 values for 2 coordinates"):
        sim.iterate(LAND, sim.optimizer("gd", lr_scale=(1, 2, 3)), X0, 3)
    with pytest.raises(ValueError, match="modified flow: it is derived for the plain gradient"):
        sim.flow(sim.optimizer("gd", clip_norm=1.0), "modified")
    result = sim.plot("himmelblau", ["gd(lr=0.01)"], steps=50, clip_norm=5.0)
    ring = [c for c in result.figure.axes[0].collections if "gradient clipped" in str(c.get_label())][0]
    run = result.experiment.entries[0].iterates
    g = sim.landscape("himmelblau").grad(run.x[:-1])
    clipped_steps = np.linalg.norm(g, axis=-1) / 1 > 5.0 - 1e-6
    np.testing.assert_array_equal(ring.get_offsets(), run.x[:-1][clipped_steps])
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--clip-norm", "5", "--lr-scale", "1,2,3", "--out", "x.png"]) == 2
    assert "lr_scale has 3 values for 2 coordinates" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert main(["plot", "--clip-norm", "5", "--lr-scale", "1,2", "--steps", "20", "--out", "y.png", "--data", "y.npz"]) == 0
    exp = sim.Experiment.load(tmp_path / "y.npz")
    assert all(e.optimizer.clip_norm == 5.0 and e.optimizer.lr_scale == (1.0, 2.0) for e in exp.entries)


def test_sweeps_take_the_transforms_and_each_cell_is_the_transformed_run(tmp_path, monkeypatch):
    import csv

    from simulate.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "-l", "himmelblau", "-o", "gd", "--clip-norm", "5", "--lr-scale", "1,2",
                 "--vary", "lr=0.005:0.02:3", "--steps", "40", "--out", "s.png", "--data", "s.npz"]) == 0
    for row in csv.DictReader((tmp_path / "s.csv").open()):
        run = sim.iterate("himmelblau", sim.optimizer("gd", lr=float(row["lr"]), clip_norm=5.0, lr_scale=(1, 2)),
                          [0.0, 0.0], 40)
        assert float(row["final_loss"]) == float(run.f[-1])
