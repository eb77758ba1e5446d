"""How results show themselves in a notebook (IPython's rich display): figures as PNG, records as HTML.

A result of the lower layers (a :class:`~simulate.analysis.sweep.Sweep`, an order study, a run)
cannot draw itself: those layers never import the figures. So the renderers live here, and
``import simulate`` inside a running IPython registers :func:`mimebundle` with IPython's MIME-bundle
formatter *by class name* (``simulate.load_ipython_extension``): nothing of this module, nor
matplotlib, is imported until a result is first displayed. :class:`~simulate.viz.figures.PlotResult`
lives in this layer and has its own ``_repr_mimebundle_`` (:mod:`simulate.viz.inline` draws both).

Every renderer returns a MIME bundle, computed once per display: ``image/png`` (where there is a
figure, drawn at :data:`DPI`) and ``text/html`` (a summary line, the same image inline, and a
table where the result has one). The plain-text form stays each class's one-line ``__repr__``.

In an IPython started after ``import simulate`` (rare: a notebook's kernel starts before its
cells import anything), ``%load_ext simulate`` registers them.
"""

from __future__ import annotations

import html

import numpy as np

from .inline import DPI, caption, figure_bundle, summary_table

__all__ = ["DPI", "MAX_ROWS", "SLIDER_HINT", "mimebundle"]

#: Rows shown of a table with more (a batch of 10,000 starts is summarized, not listed).
MAX_ROWS = 12
#: Under the summary line of a sweep of three or more axes: where a slider over the other axes is.
SLIDER_HINT = "<p><code>simulate.sweep_explorer(sweep)</code> draws two axes with a slider over each other one.</p>"


# -- the results of the lower layers -----------------------------------------------------------------------
def _sweep(sweep) -> dict:
    from .figures import sweep_figure

    line, *members = sweep.summary().split("\n")
    # under the map, per member: how many cells diverged, reached a minimum, met the tolerance
    bundle = figure_bundle(sweep_figure(sweep), line, f"<pre>{html.escape(chr(10).join(m.strip() for m in members))}</pre>")
    if len(sweep.axes) > 2:  # the facets fix the other axes (and may thin them): a slider reaches every value
        head = caption(line)
        bundle["text/html"] = head + SLIDER_HINT + bundle["text/html"].removeprefix(head)
    return bundle


def _ladders(study) -> str:
    return summary_table([{"ladder": r.label, "expected order": r.expected_order, "observed order": r.observed_order,
                           "last pair": r.last_pair_order, "rungs": len(r.lr), "scaling": r.scaling,
                           "metric": r.metric} for r in study.results])


def _order_study(study) -> dict:
    from .figures import order_figure

    return figure_bundle(order_figure(study), repr(study), _ladders(study))


def _order_result(result) -> dict:
    from ..analysis.order import OrderStudy
    from .figures import order_figure

    rungs = summary_table([{"lr": row["lr"], "h": row["time_per_step"], "steps": row["steps"], "error": row["error"],
                            "slope from previous": row["slope_from_previous"], "status": row["status"]}
                           for row in result.table()])
    return figure_bundle(order_figure(OrderStudy((result,))), repr(result), rungs)


def _trajectory(traj) -> dict:
    rows = []
    for idx in list(np.ndindex(traj.batch_shape))[:MAX_ROWS]:
        row = {"member": ", ".join(map(str, idx))} if idx else {}
        row.update(ended=str(np.asarray(traj.message)[idx]), **{"final x": traj.x[(-1, *idx)], "final f": traj.f[(-1, *idx)]})
        rows.append(row)
    return {"text/html": caption(repr(traj)) + summary_table(rows, total=int(np.prod(traj.batch_shape)))}


def _comparison(comparison) -> dict:
    row = {"samples": len(comparison.t), "batch": str(np.shape(comparison.max)),
           "largest distance": float(np.max(comparison.max)) if np.size(comparison.max) else None,
           "final distance": float(np.max(comparison.final)) if np.size(comparison.final) else None}
    return {"text/html": caption(repr(comparison)) + summary_table([row])}


def _ending(traj) -> str:
    from ..solvers.trajectory import ended

    return ended(traj.status)


def _experiment(experiment) -> dict:
    rows = []
    for e in experiment.entries:
        f = np.asarray(e.iterates.f[-1], dtype=np.float64)
        rows.append({"optimizer": e.optimizer.label, "flow": e.flow_kind or "none", "iterates": _ending(e.iterates),
                     "final loss (best)": float(np.nanmin(f)) if np.isfinite(f).any() else None,
                     "largest distance to the flow": (float(np.max(e.comparison.max))
                                                      if e.comparison is not None else None)})
    return {"text/html": caption(repr(experiment)) + summary_table(rows)}


def _ensemble(ens) -> dict:
    rows = [{"optimizer": e.optimizer.label, "iterates": _ending(e.iterates),
             "SDE": e.sde.stats.get("scheme", "yes") if e.sde is not None else f"none: {e.sde_note}",
             "flow": e.flow.flow if e.flow is not None else "none", "temperature": e.temperature}
            for e in ens.entries]
    return {"text/html": caption(repr(ens)) + summary_table(rows)}


def _tuning(tuning) -> dict:
    rows = [{"optimizer": r.name, f"best {tuning.objective}": r.best,
             "setting": r.optimizer.spec if r.optimizer is not None else "none (every setting scored inf)",
             f"settings within {tuning.within:.0%}": f"{int(r.near.sum())} of {r.values.size}"}
            for r in tuning.results]
    return {"text/html": caption(repr(tuning)) + summary_table(rows)}


_RENDERERS = {"Sweep": _sweep, "OrderStudy": _order_study, "OrderResult": _order_result, "Trajectory": _trajectory,
              "Comparison": _comparison, "Ensemble": _ensemble, "Experiment": _experiment, "Tuning": _tuning}


def mimebundle(obj) -> dict:
    """The rich display of a result of the lower layers (one that ``simulate._DISPLAYED`` lists): a MIME bundle."""
    return _RENDERERS[type(obj).__name__](obj)
