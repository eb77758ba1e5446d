"""Figures and tables inline in a notebook: a figure as PNG bytes of a known size, HTML around them.

The building blocks of the rich display (:mod:`simulate.viz.display` for the results of the lower
layers, :class:`~simulate.viz.figures.PlotResult` for a plot, the notebook explorer's image).
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

__all__ = ["DPI", "figure_png", "figure_bundle", "caption", "summary_table"]

#: Dots per inch of a displayed figure: a 13-inch comparison figure is 1300 px, about a notebook's width.
DPI = 100


def figure_png(fig, *, dpi: int = DPI, close: bool = True) -> bytes:
    """The figure as PNG bytes of its own size (``figsize × dpi``, not trimmed: the size is known).

    ``close``: release it from pyplot afterwards (a figure drawn only to be displayed; one pyplot
    never knew is left to the garbage collector either way)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if close:
        import sys

        pyplot = sys.modules.get("matplotlib.pyplot")  # only a figure pyplot made needs closing
        if pyplot is not None:
            pyplot.close(fig)
    return buffer.getvalue()


def _img(png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%"/>'


def caption(text: str) -> str:
    return f"<p><code>{html.escape(text)}</code></p>"


def summary_table(rows: list[dict], *, total: int | None = None) -> str:
    """An HTML table of ``rows`` (one dict per row, the keys of the first as the header); with
    ``total`` rows in all, a last line says how many were left out."""
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows)
    more = "" if total is None or total <= len(rows) else f"<p>… and {total - len(rows)} more</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, np.ndarray):
        return "(" + ", ".join(f"{float(v):.4g}" for v in value.reshape(-1)) + ")"
    return "" if value is None else str(value)


def figure_bundle(fig, text: str, table: str = "", *, close: bool = True) -> dict:
    """``image/png`` of ``fig`` and ``text/html``: ``text`` (a line), the same image, then ``table``."""
    png = figure_png(fig, close=close)
    return {"image/png": png, "text/html": caption(text) + _img(png) + table}
