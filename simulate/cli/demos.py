"""Classroom demos: each one command, each a fact of optimizer dynamics, each *data*.

A :class:`Demo` is the options of one existing command (``plot``, ``order``, ``sweep``,
``rate-map``) plus a caption printed under the figure saying what to look at; ``simulate demo
NAME`` runs that command with those options, so a demo has no code path of its own and its run
record reruns like any other. :func:`gallery` renders every demo into a folder and writes its
``README.md``: each picture, its caption and the exact command that makes it again.

The facts the captions state are checked by tests on the demos' own data (tests/test_demos.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .._names import lookup
from ..io.files import save_text
from .runs import run

__all__ = ["Demo", "DEMOS", "demo", "demo_options", "gallery", "GALLERY_DPI"]

#: Resolution of the committed gallery: small PNGs.
GALLERY_DPI = 70


@dataclass(frozen=True)
class Demo:
    """One demo: ``command`` run with ``options``; ``caption`` goes under the figure."""

    name: str
    summary: str
    command: str
    caption: str
    options: dict = field(default_factory=dict)

    def command_line(self, out: str | None = None) -> str:
        """The shell command that renders it."""
        return shlex.join(["simulate", "demo", self.name, *(["--out", out] if out else [])])


_DEMOS = [
    Demo("optimizers-and-flows", "GD, heavy ball and Adam beside the flows they discretize (the default plot)", "plot",
         "Markers: each optimizer's iterates; curves of the same colour: the continuous flow it discretizes (its exact "
         "lift, integrated with LSODA). GD ends within 1e-9 of where its gradient flow ends, after an O(lr) detour; "
         "heavy ball (β = 0.8) spirals with its flow; Adam follows a sign-like path. Right: the loss along each "
         "optimizer's iterates and its flow."),
    Demo("gd-is-euler", "GD's error against three continuous models: slopes 1, 2, 3", "order",
         "GD with lr = 0.01 … 0.01/32 on Himmelblau's function up to t = 1, measured against the gradient flow "
         "(slope 1: GD is Euler), the modified flow ẋ = −∇(f + lr/4·|∇f|²) (slope 2) and the second-order modified "
         "flow (slope 3). The gap between GD and its gradient flow is explained, to O(lr²), by a different loss."),
    Demo("stability-atlas", "convergence rate of heavy ball and Nesterov over (lr·λ, β), with the thresholds", "rate-map",
         "Per-step convergence rate of heavy ball and Nesterov over (lr·λ, momentum β) at Himmelblau's minimum: left "
         "from the update's own matrix (the slower Hessian mode wins), right measured by runs from next to the "
         "minimum. Dashed: the stability boundaries lr·λ = 2(1 + β) (heavy ball) and (2 + 2β)/(1 + 2β) (Nesterov), "
         "beyond which no measured run converges to the minimum any more: each diverges, leaves for another one, or "
         "keeps orbiting (a rate of 1).",
         {"landscape": "himmelblau"}),
    Demo("lr-sweep", "which learning rates converge, crawl or diverge on Rosenbrock's valley", "sweep",
         "GD, heavy ball and Nesterov (β = 0.9) over 61 learning rates on Rosenbrock's valley, 1000 steps each, in one "
         "vectorized run; dashed: each method's stability threshold at the minimum (λmax ≈ 1002). GD diverges from "
         "the first lr above 2/λmax; heavy ball and Nesterov diverge below their own thresholds: on the way their "
         "paths cross ground sharper than the minimum.",
         {"landscape": "rosenbrock"}),
    Demo("basins", "which minimum each start reaches on Himmelblau, for GD, heavy ball and Adam", "sweep",
         "Each pixel is a start, coloured by the minimum of Himmelblau's function it reaches in 500 steps. GD's "
         "basins are those of its gradient flow; heavy ball's are shredded far from the minima, where momentum "
         "carries the iterates over ridges; Adam's follow its sign-like flow.",
         {"landscape": "himmelblau", "optimizer": ["gd(lr=0.01)", "momentum(lr=0.01)", "adam(lr=0.1)"],
          "vary": ["x=-5:5:80", "y=-5:5:80"], "steps": 500}),
    Demo("edge-of-stability", "GD on ½(ab − 1)²: a catapult to a flatter minimum; RK4 stays with the flow",
         "plot",
         "½(ab − 1)² from (0.3, 4) at lr = 0.15. The gradient flow ends at a minimum of sharpness 16.0 > 2/lr = 13.3, "
         "where GD cannot stay: its loss spikes (catapult) and it settles on a flatter minimum, sharpness 9.8 < 2/lr. "
         "Heun, with the same threshold, ends at 10.9; RK4, stable up to 2.785/lr = 18.6, stays with the flow at "
         "16.0: the more accurate integrator loses the implicit regularization.",
         {"landscape": "scalar-net", "optimizer": ["gd(lr=0.15)", "heun(lr=0.15)", "rk4(lr=0.15)"], "sharpness": True,
          "steps": 100, "box": "-0.6:1.2,2.9:4.2"}),
    Demo("adam-sign-descent", "Adam runs along the diagonal like the sign flow; GD first kills the stiff coordinate",
         "plot",
         "f = ½(x² + 100y²) from (1, 1). Adam moves along the diagonal, x = y, as the sign flow ẋ = −sign(∇f) does "
         "whatever the curvatures; GD first collapses the stiff coordinate y and then crawls along x at the slow rate "
         "(curvature 1).",
         {"landscape": "quadratic(eigenvalues=(1, 100))", "optimizer": ["adam(lr=0.01)", "gd(lr=0.005)"],
          "start": ["1,1"], "steps": 150, "time": "t"}),
    Demo("adam-eps-and-betas", "Adam's ε and β: sign-like with small ε, GD-like with large ε, chattering with β₂ = 0.9",
         "plot",
         "½(x² + 100y²) from (1, 1), lr = 0.01. Torch's defaults (β = (0.9, 0.999), ε = 1e-8) run on the diagonal "
         "and then settle: the long second-moment memory remembers the large early gradients, so the steps shrink. "
         "With β₂ = 0.9 the memory is short, √v̂ follows |g| and the steps stop shrinking: they stay near 5e-4 (about "
         "lr/20, since m̂ averages gradients of alternating sign), and the iterates chatter around the minimum "
         "(|x| ≈ 4e-4) and never settle. ε = 1 makes the step g/(√v + ε) ≈ g/ε for small "
         "gradients: GD-like, the stiff y goes first and the flat x crawls.",
         {"landscape": "quadratic(eigenvalues=(1, 100))",
          "optimizer": ["adam(lr=0.01)", "adam(lr=0.01, betas=(0.9, 0.9))", "adam(lr=0.01, eps=1.0)"],
          "start": ["1,1"], "steps": 400}),
    Demo("which-minimum", "a large lr and momentum change which minimum is reached", "plot",
         "f = 0.015x² + 0.45cos(1.1x) from x = 11: the gradient flow and GD (lr 0.9) stop in the nearest pit "
         "(x ≈ 8.1, f ≈ 0.59); heavy ball with the same lr and momentum 0.85, and its own continuous lift, carry over "
         "the barrier at x ≈ 6 into the deep valley (x ≈ 2.7, f ≈ −0.33).",
         {"landscape": "formula('0.015*x**2 + 0.45*cos(1.1*x)', bounds=((-15, 15),), start=(11,))",
          "optimizer": ["gd(lr=0.9)", "momentum(lr=0.9, momentum=0.85)"], "steps": 150}),
    Demo("momentum-two-limits", "heavy ball as rescaled GD (β fixed) or as a damped oscillator (1 − β ∝ √lr)",
         "order",
         "One heavy ball, two continuous limits, by how β follows lr down the ladder. With β fixed, the iterates "
         "approach GD's flow run 1/(1 − β) times faster, ẋ = −∇f/(1 − β) (the 'limit' flow: local slopes rising to 1, "
         "0.84 → 0.97 here, once lr·λ ≪ (1 − β)², i.e. once the momentum's memory of 1/(1 − β) steps is short "
         "against the mode's time scale); with Su's rule β → 1 − (1 − β)·√r when lr is cut by r, they approach the damped "
         "oscillator ẍ + γẋ + ∇f = 0 on the clock t = k·√lr (slope 1 in h = √lr): the damping is kept.",
         {"landscape": "quadratic(eigenvalues=(1, 2))", "optimizer": ["momentum(lr=0.002, momentum=0.8)"],
          "flow": ["oscillator", "limit"]}),
    Demo("nesterov-ode", "NAG-C against Su–Boyd–Candès' ODE ẍ + (3/t)ẋ + ∇f = 0 and its Bessel solution", "plot",
         "f = 0.02x₁² + 0.005x₂² from (1, 1): NAG-C with s = 1, 0.25, 0.05 against the ODE ẍ + (3/t)ẋ + ∇f = 0 on the "
         "clock t = k·√s, whose solution is x₀·2J₁(√λ t)/(√λ t) per eigenvalue. The largest gap shrinks like √s "
         "(0.15, 0.079, 0.036); f along the ODE is not monotone (each mode's share vanishes at the zeros of J₁), "
         "while the energy t²(f − f*) + 2|x + tẋ/2|² falls.",
         {"landscape": "quadratic(eigenvalues=(0.04, 0.01))", "optimizer": ["nag-c(lr=1)", "nag-c(lr=0.25)",
                                                                       "nag-c(lr=0.05)"],
          "start": ["1,1"], "steps": 200, "energy": True}),
    Demo("heavy-ball-vs-nesterov", "the high-resolution ODEs tell heavy ball from Nesterov; the low-resolution one cannot",
         "plot",
         "½(x² + 100y²) from (1, 1), lr = s = 1/L = 0.01, β = (1 − √(μs))/(1 + √(μs)) ≈ 0.818 for both. Their "
         "low-resolution ODE, ẍ + 2√μ ẋ + ∇f = 0, is one and the same; Shi et al.'s high-resolution ODEs (drawn) add "
         "O(√s) terms, Nesterov's the gradient correction √s·∇²f·ẋ, which damps the stiff direction: they separate "
         "heavy ball's ringing overshoot (y = −0.82, +0.65, −0.50, …) from Nesterov's, which after one overshooting "
         "step sits at y ≈ 0, and each tracks its own iterates better (largest gap 0.27 against 0.63 for heavy ball; "
         "0.81 against 1.38 for Nesterov, at its first step, which its ODE misses). (Nesterov's "
         "high-resolution ODE starts one step early, at t = −√s, so its curve begins off the start marker.)",
         {"landscape": "quadratic(eigenvalues=(1, 100))",
          "optimizer": ["momentum(lr=0.01, momentum=0.818)", "nesterov(lr=0.01, momentum=0.818)"],
          "start": ["1,1"], "steps": 100, "flow": "highres"}),
    Demo("balancing", "GD balances the layers of ½(ab − 1)²; its flow and RK4 keep a² − b²", "plot",
         "½(ab − 1)² from (2.8, 3.5) with lr = 0.05. The gradient flow conserves a² − b² = −4.41; GD multiplies it by "
         "exactly 1 − lr²(ab − 1)² every step and ends more balanced, at −3.49, on a flatter minimum; RK4, the "
         "accurate integrator, keeps −4.38: an implicit regularization that only the inaccurate method has.",
         {"landscape": "scalar-net", "optimizer": ["gd(lr=0.05)", "rk4(lr=0.05)"], "start": ["2.8,3.5"], "steps": 300}),
    Demo("adam-two-limits", "Adam's two continuous limits: the sign flow (betas fixed) and Barakat–Bianchi's ODE",
         "order",
         "Adam on ½(x² + 100y²) from (1, 1) to t = 0.5. With the betas fixed as lr shrinks, the iterates approach the "
         "sign flow ẋ = −g/(|g| + ε) ('limit', local slopes rising to 1 once the averages' memory 1/(1 − β₂) steps "
         "is short against the horizon); with 1 − β = a·lr held fixed they approach Barakat & Bianchi's ODE, moving "
         "averages included ('ema', slope 1 from the start).",
         {"landscape": "quadratic(eigenvalues=(1, 100))", "optimizer": ["adam(lr=0.001, betas=(0.9, 0.99))"],
          "flow": ["limit", "ema"], "start": ["1,1"], "horizon": 0.5, "rungs": 5}),
    Demo("sgd-langevin", "SGD noise as temperature: paths, moments, Gibbs density and escapes on a double well",
         "plot",
         "Gaussian gradient noise σ = 2, 100 paths each from the left well. GD runs at temperature T = lr·σ²/2 = 0.1: "
         "it stays (Eyring–Kramers: escapes take t ~ 2·10⁴); heavy ball (μ = 0.5) runs at T = 0.2 and hops the "
         "barrier within the run. Dashed: each optimizer's SDE (for GD, dX = −∇f dt + √lr·σ dW); dotted: the Gibbs "
         "law ∝ exp(−f/T).",
         {"landscape": "double-well", "optimizer": ["gd(lr=0.05)", "momentum(lr=0.05, momentum=0.5)"],
          "start": ["-1,0.5"], "steps": 1000, "noise": 2.0, "paths": 100}),
    Demo("gda-spiral", "descent-ascent on L = xy: the flow circles, simultaneous GDA spirals out, and three fixes",
         "plot",
         "min over x, max over y of L = x·y from (1, 0) with lr = 0.2. The flow ż = −(y, −x) circles: x² + y² is "
         "conserved. Simultaneous GDA, its Euler method, multiplies x² + y² by exactly 1 + lr² = 1.04 every step and "
         "spirals out for every lr. Alternating GDA (x moves, then y answers) keeps x² + y² − lr·xy exactly and "
         "circles; extragradient shrinks x² + y² by 1 − lr² + lr⁴ and optimistic GD at a like rate: both converge. "
         "Right: the distance to the equilibrium.",
         {"landscape": "bilinear", "optimizer": ["gd(lr=0.2)", "alt-gda(lr=0.2)", "extragradient(lr=0.2)",
                                                 "optimistic(lr=0.2)"], "steps": 60, "box": "-3.4:3.4,-3.4:3.4"}),
    Demo("gan-penalty", "Dirac-GAN over lr and the R1 penalty: where each method converges, cycles or diverges",
         "sweep",
         "Dirac-GAN (Mescheder et al. 2018): 1000 steps of four methods over 12 learning rates and 11 strengths γ of "
         "the R1 penalty, each cell coloured by how its run ends. Without the penalty (bottom row) the field at the "
         "equilibrium is a pure rotation (eigenvalues ±i/2): simultaneous GDA spirals out to where the GAN loss "
         "saturates and circles or stalls there, alternating GDA cycles (and spirals out at lr ≥ 0.7), while "
         "extragradient and optimistic GD converge: within the 1000 steps for lr ≥ 0.34, still approaching below "
         "that. Any γ > 0 damps the rotation (real part γ/2): for moderate lr every method converges once lr·γ is "
         "large enough for the run, but at the largest lr simultaneous GDA still cycles for γ ≤ 0.2 and optimistic GD "
         "diverges for γ ≥ 0.9; light green: still approaching when it ends.",
         {"landscape": "dirac-gan", "optimizer": ["gd", "alt-gda", "extragradient", "optimistic"],
          "vary": ["lr=0.02:1:12:log", "gamma=0:1:11"], "steps": 1000}),
    Demo("four-norms", "steepest descent in four norms: ℓ2, ℓ∞, ℓ1 and Newton's metric, with df/dt = −‖∇f‖_*", "plot",
         "f = x² + 1.2xy + y²/2 + 0.1x⁴ from (1.5, −0.3), lr = 0.02: steepest descent x ← x + lr·d in the ℓ2 norm "
         "(normalized GD, d = −∇f/‖∇f‖), ℓ∞ (sign descent, d = −sign ∇f), ℓ1 (greedy coordinate descent, one "
         "coordinate at a time) and √(zᵀPz) with P = ∇²f(0) (preconditioned GD, d = −P⁻¹∇f). Curves: their flows "
         "ẋ = d(x); the ℓ∞ and ℓ1 ones switch discontinuously, the ℓ2 one at the minimizer (Filippov flows, "
         "regularized to width δ = 4e-6, estimated error ≤ 2e-5). Dashed: f(x₀) − ∫‖∇f‖_* dt (‖∇f‖₂, ‖∇f‖₁, "
         "‖∇f‖∞; ‖∇f‖²_{P⁻¹} for the unnormalized P step), which lies on f along every flow (within 3e-4, the "
         "trapezoid rule's error on this sampling). The three unit-speed flows reach the minimizer in finite time, "
         "t = 1.66 (ℓ∞), 1.81 (ℓ1) and 1.89 (ℓ2), and stop; their iterates then chatter within 4·lr of it. "
         "Newton's metric approaches it like e^(−t).",
         {"landscape": "formula('x**2 + 1.2*x*y + 0.5*y**2 + 0.1*x**4', start=(1.5, -0.3), bounds=((-0.7, 1.8), (-1.2, 1)))",
          "optimizer": ["normalized-gd(lr=0.02)", "sign-gd(lr=0.02)", "coordinate-gd(lr=0.02)",
                        "preconditioned-gd(lr=0.02, metric=((2, 1.2), (1.2, 1)))"],
          "steps": 125, "time": "t"}),
    Demo("sam-flat-minimum", "SAM and USAM end on flatter minima of ½(ab − 1)² than GD from the same start", "plot",
         "½(ab − 1)² from (0.3, 4), lr = 0.05, 500 steps. GD ends with its gradient flow on the nearby minimum of "
         "sharpness 16.0 (stable: 2/lr = 40). SAM (ρ = 0.2) reaches the valley ab = 1 and drifts along it to "
         "sharpness 2.2, next to the flattest minimum a = b = 1 (sharpness 2), hovering off the valley (loss 6e-4). "
         "Its flow does the same, more slowly: across the valley its ascent direction ∇f/‖∇f‖ flips, and the "
         "Filippov flow slides along it, to sharpness 2.9 by the end. USAM (ρ = 0.2) ends at 2.7 for another "
         "reason: its flow stops at the sharp minimum (16.0) like GD's, but its iterates are unstable wherever "
         "lr(λ + ρλ²) ≥ 2, i.e. λ ≥ 11.9.",
         {"landscape": "scalar-net", "optimizer": ["gd(lr=0.05)", "sam(lr=0.05, rho=0.2)", "usam(lr=0.05, rho=0.2)"],
          "start": ["0.3,4"], "steps": 500, "sharpness": True}),
    Demo("target-steers", "the Polyak step steers by the target value f*: its flow's loss is exactly e^(−t)", "plot",
         "Polyak's step x ← x − c·(f − f*)·∇f/|∇f|² (c = 0.2, f* = 0: the listed minimum) beside GD (lr = 0.2) on "
         "½xᵀAx with curvatures 0.1 and 1, from (2, 1); both take time h = 0.2 per step. Polyak's flow "
         "ẋ = −(f − f*)∇f/|∇f|² makes f − f* = (f₀ − f*)·e^(−t) exactly, whatever the curvatures: a straight line "
         "on the log scale, a factor 10 every t = ln 10 ≈ 2.3 (relative deviation 5e-9 here). GD's flow slows to the smallest curvature's "
         "rate 2·0.1 = 0.2 and ends at 0.13·f₀. Polyak's iterates end at 0.59 times the flow's e^(−10)·f₀: a step "
         "multiplies f − f* by about (1 − c/2)², a little less than e^(−c) (on a line exactly; 50 steps: 0.585).",
         {"landscape": "quadratic(eigenvalues=(0.1, 1), angle=0.5)", "optimizer": ["gd(lr=0.2)", "polyak(c=0.2)"],
          "start": ["2,1"], "steps": 50, "rtol": 1e-10, "box": "-2.5:2.5,-2:2"}),
]
DEMOS: dict[str, Demo] = {d.name: d for d in _DEMOS}


def demo_options(name: str, out=None, *, dpi: int | None = None, data=None, animate=None,
                 three_d: bool = False, size=None, font_scale: float | None = None,
                 formats: str | None = None) -> tuple[str, dict]:
    """``(command, options)`` that render demo ``name`` (unknown names suggest the right one);
    ``size``, ``font_scale`` and ``formats`` are the command's ``size``, ``font_scale`` and ``format``."""
    d = lookup("demo", name, DEMOS)
    options = {**d.options, "caption": d.caption, "out": str(out or f"{d.name}.png")}
    for wanted, able, what in ((animate is not None, _animates, "animate"), (three_d, _has_3d, "have a 3-D view")):
        if wanted and not able(d):
            can = ", ".join(k for k, v in DEMOS.items() if able(v))
            raise ValueError(f"{d.name} does not {what}; the demos that do: {can}")
    if animate is not None:
        options["animate"] = str(animate)
    if three_d:
        options["three_d"] = True
    if dpi is not None:
        options["dpi"] = dpi
    if data is not None:
        options["data"] = str(data)
    look = {"size": size, "font_scale": font_scale, "format": formats}
    options.update({k: v for k, v in look.items() if v is not None})
    return d.command, options


def _animates(d: Demo) -> bool:
    return d.command == "plot"


def _has_3d(d: Demo) -> bool:
    """Plot demos of 2-D landscapes with exact gradients (the 3-D view draws surfaces of those)."""
    from ..viz.figures import DEFAULT_LANDSCAPE
    from ..landscapes import landscape

    return (d.command == "plot" and "noise" not in d.options
            and landscape(d.options.get("landscape", DEFAULT_LANDSCAPE)).dim == 2)


def demo(name: str, out=None, *, dpi: int | None = None, data=None, animate=None, three_d: bool = False,
         overwrite: bool = False, argv: list[str] | None = None, size=None, font_scale: float | None = None,
         formats: str | None = None) -> list:
    """Render demo ``name`` to ``out`` (default ``NAME.png``), with ``animate`` also an animation
    (plot demos); returns the paths written (the figures, optional data and animation, and the run
    record of the command underneath). ``size`` ("8x4.5", inches), ``font_scale`` and ``formats``
    ("png,svg"): for slides and print, as the command's ``--size``, ``--font-scale``, ``--format``."""
    from ..solvers.trajectory import RunTooLarge

    command, options = demo_options(name, out, dpi=dpi, data=data, animate=animate, three_d=three_d, size=size,
                                    font_scale=font_scale, formats=formats)
    try:
        return run(command, options, overwrite=overwrite, argv=argv)
    except RunTooLarge as exc:  # refused before any work; a demo's size is not the user's to change
        raise ValueError(f"demo {name}: {exc.estimate}: a demo's size is fixed; free some memory, or run "
                         f"simulate {command} with its options (--dump-config) and {exc.fits}") from None


_GALLERY_TITLE = "# Gallery\n\nEvery classroom demo, rendered by `simulate gallery`"


def gallery(folder="gallery", *, dpi: int = GALLERY_DPI, overwrite: bool = False) -> list[Path]:
    """Render every demo into ``folder`` and write ``folder/README.md``.

    An earlier gallery there (its README.md is one this function wrote) is replaced; other files
    of the same names are replaced only with ``overwrite``: nothing is written otherwise.
    """
    folder = Path(folder)
    readme = folder / "README.md"
    if not overwrite and not (readme.is_file() and readme.read_text(errors="replace").startswith(_GALLERY_TITLE)):
        names = [readme] + [folder / f"{n}{ext}" for n in DEMOS for ext in (".png", ".run.toml")]
        taken = [str(p) for p in names if p.exists()]
        if taken:
            raise ValueError(f"{folder} is not a gallery and holds {', '.join(taken[:3])}"
                             f"{' and more' if len(taken) > 3 else ''}; pass --overwrite to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for d in DEMOS.values():
        written += demo(d.name, folder / f"{d.name}.png", dpi=dpi, overwrite=True,
                        argv=["simulate", "demo", d.name, "--out", str(folder / f"{d.name}.png"), "--dpi", str(dpi)])
    written.append(save_text(folder / "README.md", gallery_readme(folder, dpi)))
    return written


def gallery_readme(folder, dpi: int = GALLERY_DPI) -> str:
    """The gallery's index: every demo with its picture, caption and command."""
    folder = Path(folder)
    lines = ["# Gallery", "",
             f"Every classroom demo, rendered by `simulate gallery` (run from the repository root). Each picture is "
             f"made again by the command under its title; `simulate demo --list` lists them, and each `.run.toml` "
             f"beside a picture is its run record (`simulate rerun {folder}/NAME.run.toml --overwrite`).", ""]
    for d in DEMOS.values():
        out = f"{folder}/{d.name}.png"
        lines += [f"## `{d.name}`: {d.summary}", "", "```bash",
                  shlex.join(["simulate", "demo", d.name, "--out", out, "--dpi", str(dpi)]), "```", "",
                  d.caption, "", f"![{d.name}]({d.name}.png)", ""]
    return "\n".join(lines)
