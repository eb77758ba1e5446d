"""An optimizer written outside the package, registered, works by name like a built-in: in specs,
`plot`, `sweep`, `order`, run records and `rerun` (issue 18: "your own optimizer").

EmaMomentum is defined here, in the test file, with nothing edited under simulate/:
``b ← β·b + (1 − β)·g,  x ← x − lr·b`` (b starts at 0). Its exact lift, with h = lr, is
``ḃ = (1 − β)(g − b)/lr,  ẋ = −b``; its β-fixed limit is the gradient flow.
"""

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import simulate as sim
from simulate.analysis.sweep import sweep
from simulate.cli.app import main
from simulate.models.gradient import ScaledGradientFlow
from simulate.optimizers import OPTIMIZERS, Optimizer, hyper, lr_hyper, register
from simulate.optimizers.hyper import EMA
from simulate.optimizers.kernel import Kernel


def ema_momentum_update(x, g, b, lr, beta):
    """One coordinate (or whole arrays): the step's arithmetic, written once for numpy and the engine."""
    b = beta * b + (1 - beta) * g
    return x + (-lr) * b, b


@register
@dataclass(frozen=True)
class EmaMomentum(Optimizer):
    """b ← β·b + (1 − β)·g, x ← x − lr·b; lift ḃ = (1 − β)(g − b)/lr, ẋ = −b (h = lr)."""

    name = "ema-momentum"
    description = "momentum as an EMA of the gradients (a test's own optimizer)"
    lr: float = lr_hyper(0.05)
    beta: float = hyper(0.9, "[0, 1)", ladder=EMA, slider=(0.0, 0.99))

    @classmethod
    def models(cls):
        return {**super().models(), "limit": ScaledGradientFlow}

    def limit_speed(self):
        return 1.0

    def state_names(self):
        return ("b", "x")

    def step(self, state, landscape, k):
        x, b = ema_momentum_update(state["x"], landscape.grad(state["x"]), state["b"], self._b(self.lr),
                                   self._b(self.beta))
        return {"b": b, "x": x}

    def kernel(self):  # elementwise: large sweeps run compiled, with the same bits
        return Kernel(ema_momentum_update, ("b",), ("lr", "beta"), hypers={"lr": self.lr, "beta": self.beta})

    def field(self, t, state, landscape):
        beta, lr = self._b(self.beta), self._b(self.lr)
        return {"b": (1 - beta) * (landscape.grad(state["x"]) - state["b"]) / lr, "x": -state["b"]}


Q = sim.landscape("quadratic(eigenvalues=(1, 10))")
X0 = np.array([1.0, 1.0])


def test_it_is_registered_by_name_and_refuses_what_is_not_an_optimizer():
    assert OPTIMIZERS["ema-momentum"].cls is EmaMomentum
    opt = sim.optimizer("ema-momentum(lr=0.1, beta=0.5)")
    assert isinstance(opt, EmaMomentum) and sim.optimizer(opt.spec) == opt
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        sim.optimizer("ema-momentum", beta=1.0)
    with pytest.raises(ValueError, match="Did you mean 'ema-momentum'"):
        sim.optimizer("ema-momentun")
    with pytest.raises(ValueError, match="the name 'sgd' is taken"):
        register(dataclass(frozen=True)(type("Mine", (EmaMomentum,), {"name": "sgd", "__module__": __name__})))

    @dataclass(frozen=True)
    class Loose(Optimizer):
        name = "loose"
        lr: float = lr_hyper(0.1)
        beta: float = 0.5

        def step(self, state, landscape, k):
            return state

    with pytest.raises(ValueError, match="'beta' is neither a flag .* nor declared with hyper"):
        register(Loose)
    assert "loose" not in OPTIMIZERS

    class Undecorated(EmaMomentum):
        name = "undecorated"

    with pytest.raises(ValueError, match=r"not decorated with @dataclass\(frozen=True\)"):
        register(Undecorated)

    @dataclass(frozen=True)
    class Nameless(Optimizer):
        lr: float = lr_hyper(0.1)

        def step(self, state, landscape, k):
            return state

    with pytest.raises(ValueError, match="it has no name"):
        register(Nameless)
    again = dataclass(frozen=True)(type("EmaMomentum", (Optimizer,), {  # the class defined again, as a re-run cell does
        "__module__": __name__, "__qualname__": "EmaMomentum", "name": "ema-momentum", "step": EmaMomentum.step,
        "__annotations__": {"lr": float}, "lr": lr_hyper(0.05)}))
    assert register(again) is again and OPTIMIZERS["ema-momentum"].cls is again  # the newest definition wins
    assert register(EmaMomentum) is EmaMomentum and OPTIMIZERS["ema-momentum"].cls is EmaMomentum
    with pytest.raises(ValueError, match="known only to the process that registered it"):
        sim.optimizer("not-registered-anywhere")


def test_one_step_is_one_semi_implicit_euler_step_of_its_lift():
    opt, land = sim.optimizer("ema-momentum(lr=0.1, beta=0.5)"), sim.landscape("rosenbrock")
    state = opt.init(np.array([[-1.2, 1.0], [0.5, 0.3]]))
    for k in range(1, 6):
        stepped = opt.step(state, land, k)
        for name, value in sim.euler_step(land, opt, state, k).items():
            np.testing.assert_allclose(value, stepped[name], rtol=1e-14, atol=1e-15)
        state = stepped


def test_its_iterates_are_the_closed_form_linear_recurrence_on_a_quadratic():
    lr, beta = 0.05, 0.8
    run = sim.iterate(Q, f"ema-momentum(lr={lr}, beta={beta})", X0, 40)
    for i, lam in enumerate((1.0, 10.0)):  # each coordinate: (b, x) ← M (b, x)
        M = np.array([[beta, (1 - beta) * lam], [-lr * beta, 1 - lr * (1 - beta) * lam]])
        z = np.array([0.0, X0[i]])
        for k in range(1, 41):
            z = M @ z
            np.testing.assert_allclose(run.x[k, i], z[1], rtol=1e-12, atol=1e-15)


def test_order_against_its_lift_and_its_limit():
    lifted = sim.order(Q, "ema-momentum(lr=0.02, beta=0.9)", flow="exact", horizon=0.5, rungs=5)
    assert lifted.observed_order == pytest.approx(1.0, abs=0.1)
    assert lifted.scaling == "linear"  # (1 − β)/lr held: declared by beta's ladder
    # b starts at 0, not at g: past that transient (metric late) the iterates trail the limit by O(lr)
    limit = sim.order(Q, "ema-momentum(lr=0.02, beta=0.5)", flow="limit", horizon=0.5, rungs=5, metric="late")
    assert limit.observed_order == pytest.approx(1.0, abs=0.1)
    assert sim.models.available_flows(sim.optimizer("ema-momentum")) == ["exact", "limit"]
    with pytest.raises(ValueError, match="ema-momentum has: exact, limit"):
        sim.models.flow(sim.optimizer("ema-momentum"), "oscillator")


def test_plot_writes_its_data_and_record_and_rerun_reproduces_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["plot", "-l", "quadratic", "-o", "ema-momentum(lr=0.05, beta=0.7)", "-o", "gd(lr=0.05)",
            "--out", "f.png", "--data", "d.npz"]
    assert main(args) == 0, capsys.readouterr().err
    written = capsys.readouterr().out.split()
    assert "f.run.toml" in written
    data = np.load("d.npz")
    run = sim.iterate("quadratic", "ema-momentum(lr=0.05, beta=0.7)", sim.landscape("quadratic").default_start,
                      len(data["iterates_x_0"]) - 1)
    np.testing.assert_array_equal(data["iterates_x_0"], run.x)
    assert "ema-momentum(lr=0.05, beta=0.7)" in (tmp_path / "f.run.toml").read_text()
    summary = json.loads((tmp_path / "d.json").read_text())
    assert summary["optimizers"][0]["members"][0]["iterates"]["final_x"] == run.x[-1].tolist()
    assert summary["optimizers"][0]["flow"] == "exact"  # its lift drawn beside the iterates
    assert main(["rerun", "f.run.toml", "--out-dir", "again"]) == 0, capsys.readouterr().err
    for name in ("d.npz", "d.json"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_a_sweep_of_its_hyperparameters_is_each_cells_own_run_compiled_or_not():
    land = sim.landscape("rosenbrock")  # a pointwise gradient: the compiled engine covers it
    axes = ["beta=0:0.9:4", "lr=0.0005,0.001", "x=-1.5:1.5:5"]
    numpy = sweep(land, "ema-momentum", axes, steps=300, track=(), engine="numpy")
    compiled = sweep(land, "ema-momentum", axes, steps=300, track=(), engine="compiled")
    for name, values in numpy.metrics.items():  # the same bits, cell by cell
        np.testing.assert_array_equal(compiled.metrics[name], values, err_msg=name)
    final = numpy.metrics["final_loss"][0]
    assert final.shape == (4, 2, 5)
    for i, beta in enumerate(np.linspace(0, 0.9, 4)):
        for j, lr in enumerate((0.0005, 0.001)):
            start = np.array([np.linspace(-1.5, 1.5, 5)[2], land.default_start[1]])
            run = sim.iterate(land, sim.optimizer("ema-momentum", lr=lr, beta=beta), start, 300)
            assert final[i, j, 2] == land.value(run.x[-1])


def _half(g):  # a plain Python helper: numba cannot call it from the compiled loop
    return 0.5 * g


def halved_update(x, g, lr):
    return x + (-lr) * _half(g), ()


@dataclass(frozen=True)
class Halved(Optimizer):
    name = "halved"
    lr: float = lr_hyper(0.1)

    def step(self, state, landscape, k):
        return {"x": halved_update(state["x"], landscape.grad(state["x"]), self._b(self.lr))[0]}

    def kernel(self):
        return Kernel(halved_update, (), ("lr",), hypers={"lr": self.lr})


def test_a_kernel_that_numba_cannot_compile_is_refused_with_what_an_update_may_call():
    opt = Halved(lr=np.full(4, 1e-3))
    with pytest.raises(ValueError, match="kernel update 'halved_update' of halved does not compile: an update may use"):
        sim.iterate("rosenbrock", opt, steps=3, engine="compiled")
    run = sim.iterate("rosenbrock", opt, steps=3, engine="numpy")  # the numpy path runs it
    land = sim.landscape("rosenbrock")
    np.testing.assert_array_equal(run.x[1, 0], run.x[0, 0] - 1e-3 * (0.5 * land.grad(run.x[0, 0])))


#: The page "How to add an optimizer" of the documentation site; its examples run here.
OWN_OPTIMIZER_PAGE = Path(__file__).parents[1] / "docs" / "how-to" / "add-an-optimizer.md"


def _page_examples() -> list[str]:
    """Every ```python block of the page "How to add an optimizer" (each a complete example)."""
    import re

    return re.findall(r"```python\n(.*?)```", OWN_OPTIMIZER_PAGE.read_text(), re.S)


def test_both_examples_of_the_how_to_page_run_alone_and_are_exact_lifts_of_their_steps(tmp_path):
    """Each example in a file of its own and a new process: registered by name; one step equals one
    semi-implicit Euler step of its lift; the step is the formula its docstring states; tune searches
    what it declares, with the budget's steps."""
    examples = _page_examples()
    assert len(examples) == 2 and all(len(code.strip().splitlines()) < 30 for code in examples)
    for i, code in enumerate(examples):
        (tmp_path / f"example{i}.py").write_text(code)
    check = textwrap.dedent("""
        import json, runpy
        import numpy as np
        runpy.run_path("example0.py", run_name="example0")
        runpy.run_path("example1.py", run_name="example1")
        import simulate as sim
        land = sim.landscape("rosenbrock")
        x0 = np.array([[-1.2, 1.0], [0.5, 0.3]])
        out = {"euler": {}}
        for spec in ("polyak-gd(lr=0.3, max_step=0.5)", "my-signum(lr=0.01, beta=0.8)"):
            opt, dev = sim.optimizer(spec), 0.0
            state = opt.init(x0)
            for k in range(1, 21):
                new, euler = opt.step(state, land, k), sim.euler_step(land, opt, state, k)
                dev = max(dev, max(float(np.max(np.abs(new[n] - euler[n]))) for n in new))
                state = new
            out["euler"][spec] = dev
        # the formulas, by hand: Polyak's capped step and signum's first two steps
        g, f = land.grad(x0), land.value(x0)
        size = np.minimum(f / np.sum(g * g, axis=-1), 0.5)[:, None]
        polyak = sim.optimizer("polyak-gd(lr=0.3, max_step=0.5)").step({"x": x0}, land, 1)["x"]
        out["polyak"] = float(np.max(np.abs(polyak - (x0 - 0.3 * size * g))))
        signum = sim.optimizer("my-signum(lr=0.01, beta=0.8)")
        s1 = signum.step(signum.init(x0), land, 1)
        m1 = 0.2 * g
        x1 = x0 - 0.01 * np.sign(m1)
        m2 = 0.8 * m1 + 0.2 * land.grad(x1)
        s2 = signum.step(s1, land, 2)
        out["signum"] = float(max(np.max(np.abs(s1["x"] - x1)), np.max(np.abs(s2["x"] - (x1 - 0.01 * np.sign(m2))))))
        t = sim.tune("quadratic(eigenvalues=(1, 10))", ["polyak-gd", "my-signum"], budget=40, runs=False,
                     grid={"lr": [0.01, 0.1]})
        out["axes"] = {r.name: [a.name for a in r.axes] for r in t.results}
        out["steps"] = [r.steps for r in t.results]
        print(json.dumps(out))
    """)
    ran = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["euler"]["polyak-gd(lr=0.3, max_step=0.5)"] == 0.0  # the step is written as its Euler step
    assert out["euler"]["my-signum(lr=0.01, beta=0.8)"] < 1e-12  # m + lr·(1 − β)(g − m)/lr against βm + (1 − β)g
    assert out["polyak"] == 0.0 and out["signum"] == 0.0
    assert out["axes"] == {"polyak-gd": ["lr", "max_step"], "my-signum": ["lr", "beta"]}  # f_star: no slider
    assert out["steps"] == [40, 40]


def test_the_how_to_pages_first_example_is_short_and_runs_in_a_new_process_by_name(tmp_path):
    code = _page_examples()[0]
    assert len(code.strip().splitlines()) < 30
    (tmp_path / "mine.py").write_text(code)
    check = textwrap.dedent("""
        import runpy, sys
        runpy.run_path("mine.py", run_name="mine")
        import simulate as sim
        print(sim.optimizer("polyak-gd").spec)
    """)
    out = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "polyak-gd" in out.stdout


def test_an_installed_plugin_is_found_by_name_in_a_new_process(tmp_path):
    """An installed package's entry point (group simulate.optimizers) makes its optimizer known to
    every new process, the command line included: here a package made by hand on PYTHONPATH."""
    (tmp_path / "mine.py").write_text(_page_examples()[0])
    info = tmp_path / "mine-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mine\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[simulate.optimizers]\npolyak-gd = mine:PolyakGD\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-m", "simulate", "plot", "-l", "quadratic", "-o", "polyak-gd",
                          "--out", "p.png", "--data", "p.npz"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert "skipped" not in out.stderr  # the plugin registers itself on import and through its entry point
    listed = subprocess.run([sys.executable, "-m", "simulate", "list"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert "polyak-gd" in listed.stdout and not listed.stderr
    data = np.load(tmp_path / "p.npz")
    # the Polyak step on f = ½(x² + 10y²), f* = 0: f(x_k) − f* falls each step
    f = Q.value(data["iterates_x_0"])
    assert f[-1] < 1e-3 * f[0] and np.all(np.diff(f) <= 0)
