"""simulate: optimizers as discrete maps and as the ODEs they discretize.

The public names below are loaded on first use (PEP 562): ``import simulate`` runs nothing but this
file, and ``simulate.plot`` imports the figures (matplotlib) only when it is first looked up. Each
name lives in the module that the table :data:`_HOMES` gives; the subpackages (``simulate.viz``, …)
are reachable as attributes too.
"""

import sys
from importlib import import_module

from ._version import __version__

#: Where each public name lives, by subpackage in the order of the data flow.
_HOMES: dict[str, tuple[str, ...]] = {
    "landscapes": ("LANDSCAPES", "Landscape", "landscape"),
    "landscapes.callables": ("landscape_from",),
    "landscapes.games": ("GAMES", "Game"),
    "optimizers": ("OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "optimizer"),
    "optimizers.schedules": ("SCHEDULES", "schedule"),
    "models": ("FLOWS", "Flow", "flow"),
    "solvers.discrete": ("iterate",),
    "solvers.continuous": ("METHODS", "Events", "SaveAt", "Stepping", "Tolerances", "euler_step", "integrate"),
    "solvers.noise": ("Noise", "noise"),
    "solvers.sdes": ("sde",),
    "solvers.trajectory": ("Comparison", "Trajectory", "compare"),
    "analysis.averaging": ("average", "ema", "running_mean"),
    "analysis.ensembles": ("Ensemble", "ensemble"),
    "analysis.experiment": ("Experiment", "run_experiment"),
    "analysis.order": ("OrderResult", "OrderStudy", "order", "order_study"),
    "analysis.sharpness": ("sharpness", "stability_threshold"),
    "analysis.sweep": ("Sweep", "sweep"),
    "analysis.tune": ("Tuning", "tune"),
    "viz.animation": ("animate",),
    "viz.explorer": ("Explorer",),
    "viz.notebook": ("explore",),
    "viz.sweep_widget": ("sweep_explorer",),
    "viz.figures": ("PlotResult", "comparison_figure", "plot", "sweep_figure"),
    "viz.tuning": ("tune_figure",),
    "cli.demos": ("DEMOS", "demo", "gallery"),
    "cli.runs": ("rerun", "run"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_SUBPACKAGES = ("landscapes", "optimizers", "models", "solvers", "analysis", "viz", "io", "cli")

__all__ = [*_HOME, "__version__"]


def __getattr__(name: str):
    """Import a public name's module on first use, and keep the name here for the next lookup."""
    if name in _HOME:
        value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBPACKAGES})


#: ``(module, class)`` of the results of the lower layers that display themselves in IPython, drawn by
#: :mod:`simulate.viz.display` (those layers never import the figures). Registered by name: nothing is imported.
_DISPLAYED = (("simulate.analysis.sweep", "Sweep"), ("simulate.analysis.order", "OrderStudy"),
              ("simulate.analysis.order", "OrderResult"), ("simulate.solvers.trajectory", "Trajectory"),
              ("simulate.solvers.trajectory", "Comparison"), ("simulate.analysis.ensembles", "Ensemble"),
              ("simulate.analysis.experiment", "Experiment"), ("simulate.analysis.tune", "Tuning"))


def _rich_display(obj) -> dict:
    from .viz.display import mimebundle

    return mimebundle(obj)


def load_ipython_extension(shell) -> None:
    """``%load_ext simulate``: results display themselves in ``shell`` (a figure and a summary).

    ``import simulate`` in a running IPython (a notebook) does this already; the magic is for an
    IPython started after simulate was imported. A shell that shows text only (IPython in a terminal)
    registers nothing: it would draw every figure and show none."""
    if not {"image/png", "text/html"} & set(shell.display_formatter.active_types):
        return
    formatter = shell.display_formatter.mimebundle_formatter
    for module, name in _DISPLAYED:
        formatter.for_type_by_name(module, name, _rich_display)


def _running_shell():
    """The IPython shell this runs in, or None; IPython is not imported for it (loaded already, or none runs)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if hasattr(ipython, "get_ipython") else None


def _register_in_ipython() -> None:
    """In a running IPython (a notebook), register the displays now; cheaply: the renderers are named,
    not imported."""
    shell = _running_shell()
    if shell is not None:
        load_ipython_extension(shell)


_register_in_ipython()
