"""Animations: iterates and flows advancing together over the contours (``--animate out.gif``).

:func:`animation_frames` decides what each frame shows (the step of the iterates, and the time the
flows have reached), capped at :data:`MAX_FRAMES` with long runs subsampled; :func:`draw_frame`
draws one frame on prepared axes and returns the artists it changed, so a test can check the drawn
data of any frame without rendering a file; :func:`animate` writes the GIF (matplotlib's Pillow
writer) or MP4 (only where an ffmpeg binary is on the PATH), atomically, with a progress bar on a
terminal. An ensemble (stochastic gradients) animates as a cloud of paths moving together. With
an experiment's ``ema``, each optimizer's moving average of its iterates follows them, dashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ..analysis.averaging import average_label
from ..landscapes.base import short_label
from .style import AVERAGE_STYLE, COLORS, drawn_bounds, parse_size, restyle, shared_clock
from ..io.files import _atomic, check_output_path
from .plotting import drawn_xy, plane_labels, plot_landscape, plot_minima, plot_start
from ..io.progress import progress_bar

__all__ = ["animate", "animation_frames", "render_frames", "AnimationScene", "ANIMATION_FORMATS", "MAX_FRAMES", "TRAIL"]

ANIMATION_FORMATS = ("gif", "mp4")
#: At most this many frames: a long run is subsampled so that files stay small.
MAX_FRAMES = 120
#: Iterates drawn behind the current one, fading out.
TRAIL = 25
#: The frame's size in inches when none is asked for (times the dpi: its pixels).
DEFAULT_SIZE = (7.0, 6.0)


def animation_frames(steps: int, frames: int = MAX_FRAMES) -> np.ndarray:
    """The steps shown, one per frame: all of 0..steps, or ``frames`` of them evenly spaced (first and
    last included) when there are more."""
    if steps + 1 <= frames:
        return np.arange(steps + 1)
    return np.unique(np.round(np.linspace(0, steps, frames)).astype(int))


@dataclass
class AnimationScene:
    """The figure of an animation and what each frame updates (built by :meth:`for_result`)."""

    figure: Figure
    steps: np.ndarray            # the step shown in each frame
    update: callable             # update(frame index) -> the artists it changed

    @classmethod
    def for_result(cls, result, frames: int = MAX_FRAMES, trail: int = TRAIL, box=None, size=None,
                   font_scale: float = 1.0) -> AnimationScene:
        """The scene of an :class:`~simulate.experiment.Experiment` (iterates beside their flows)
        or an :class:`~simulate.ensembles.Ensemble` (clouds of noisy paths); ``box`` is the region
        drawn (:func:`~simulate.viz.style.drawing_box`); ``size`` (inches, default 7×6) and
        ``font_scale``: as for figures (:func:`~simulate.viz.style.restyle`)."""
        land = result.landscape
        fig = Figure(figsize=parse_size(size) or DEFAULT_SIZE, layout="constrained")
        ax = fig.add_subplot()
        region = drawn_bounds(result, box)
        if land.dim <= 2:
            plot_landscape(land, ax, bounds=region)
        else:
            xlabel, ylabel = plane_labels(land)
            ax.set(xlabel=xlabel, ylabel=ylabel, xlim=region[0], ylim=region[1])
        if land.dim >= 2:
            plot_minima(land, ax)
        plot_start(land, result.start, ax)
        steps = animation_frames(result.steps, frames)
        counter = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", fontsize=10,
                          bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
        noisy = hasattr(result, "paths")
        updates = [_cloud(ax, e, COLORS[i % len(COLORS)], trail) if noisy else
                   _runner(ax, e, COLORS[i % len(COLORS)], trail, _average_of(result, i))
                   for i, e in enumerate(result.entries)]
        # below the axes: inside, wherever it went, some run ended under it
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=8)
        h = shared_clock(result)
        times = [np.asarray(e.iterates.t) for e in result.entries]
        # one clock for all, or the same schedule: the records' own t can be shown
        same_t = h is None and all(t.ndim == 1 and t.shape == times[0].shape and np.array_equal(t, times[0]) for t in times)

        def update(i: int):
            k = int(steps[i])
            t = k * h if h is not None else times[0][k] if same_t else None
            counter.set_text(f"step {k}, t = {t:.4g}" if t is not None else f"step {k}")
            changed = [counter]
            for u in updates:
                changed += u(k)
            return changed

        title = "paths of noisy gradients" if noisy else "iterates (dots, fading trail) and their flows (lines)"
        ax.set_title(f"{short_label(land)}: {title}", fontsize=9)
        restyle(fig, font_scale=font_scale)
        return cls(fig, steps, update)


def _average_of(result, i: int):
    """Entry ``i``'s moving average of its iterates and its legend text, or None without ``ema``."""
    if getattr(result, "ema", None) is None:
        return None
    return result.averages[i], f"{result.entries[i].optimizer.label} {average_label(result.ema)}"


def _runner(ax, entry, color, trail, average=None):
    """One optimizer of an experiment: a fading trail of iterates, the current iterate, and the flow
    up to the same time, for every start; with ``average`` (its record and label), the average of
    the iterates up to the current step, dashed."""
    xs, ys = drawn_xy(entry.iterates.x, entry.iterates.f)  # (T, *batch)
    xs, ys = xs.reshape(len(xs), -1).copy(), ys.reshape(len(ys), -1).copy()
    stop = np.ravel(entry.iterates.diverged_at)  # per start; the escaping sample is far outside the picture
    for j, k in enumerate(stop):
        if k >= 0:
            xs[k:, j] = ys[k:, j] = np.nan
    trails = [ax.add_collection(LineCollection([], colors=color, linewidths=2.5, zorder=4)) for _ in range(xs.shape[1])]
    flows = []  # an optimizer with no continuous model runs alone
    if entry.flow is not None:
        fx, fy = drawn_xy(entry.flow.x, entry.flow.f)
        fx, fy = fx.reshape(len(fx), -1), fy.reshape(len(fy), -1)
        every = entry.flow_every
        flows = [ax.plot([], [], color=color, lw=1.5, alpha=0.7)[0] for _ in range(xs.shape[1])]
    heads = ax.plot([], [], "o", color=color, markeredgecolor="black", markersize=7,
                    label=entry.optimizer.label)[0]
    crosses = ax.plot([], [], "X", color=color, markeredgecolor="black", markersize=10)[0]  # where runs diverged
    averaged = []
    if average is not None:
        avg, label = average
        mx, my = drawn_xy(avg.x, avg.f)
        mx, my = mx.reshape(len(mx), -1).copy(), my.reshape(len(my), -1).copy()
        for j, k in enumerate(stop):  # as the iterates: nothing from the sample that triggered divergence on
            if k >= 0:
                mx[k:, j] = my[k:, j] = np.nan
        averaged = [ax.plot([], [], color=color, **AVERAGE_STYLE, label=label if j == 0 else None)[0]
                    for j in range(mx.shape[1])]
    rgba = np.array([list(_to_rgba(color))] * trail)
    rgba[:, 3] = np.linspace(0.05, 1.0, trail)  # older segments fade out

    def update(k):
        for j, tr in enumerate(trails):
            lo = max(0, k - trail)
            pts = np.column_stack([xs[lo:k + 1, j], ys[lo:k + 1, j]])
            segments = np.stack([pts[:-1], pts[1:]], axis=1) if len(pts) > 1 else np.zeros((0, 2, 2))
            tr.set_segments(segments)
            tr.set_color(rgba[trail - len(segments):])
        for j, fl in enumerate(flows):
            fl.set_data(fx[:k * every + 1, j], fy[:k * every + 1, j])
        heads.set_data(xs[k], ys[k])
        gone = (stop >= 0) & (stop <= k)
        last = np.maximum(stop - 1, 0)
        crosses.set_data(xs[last[gone], np.flatnonzero(gone)], ys[last[gone], np.flatnonzero(gone)])
        for j, line in enumerate(averaged):
            line.set_data(mx[:k + 1, j], my[:k + 1, j])
        return [*trails, *flows, heads, crosses, *averaged]

    return update


def _cloud(ax, entry, color, trail):
    """One optimizer of an ensemble: every path's current point, and its mean's track."""
    xs, ys = drawn_xy(entry.iterates.x, entry.iterates.f)  # (T, n)
    dots = ax.plot([], [], ".", color=color, alpha=0.5, markersize=4, label=entry.optimizer.label)[0]
    with np.errstate(all="ignore"):
        mx, my = np.nanmean(xs, axis=1), np.nanmean(ys, axis=1)
    mean = ax.plot([], [], color=color, lw=2.0, markeredgecolor="black")[0]

    def update(k):
        dots.set_data(xs[k], ys[k])
        mean.set_data(mx[:k + 1], my[:k + 1])
        return [dots, mean]

    return update


def _to_rgba(color):
    from matplotlib.colors import to_rgba

    return to_rgba(color)


def render_frames(scene: AnimationScene, dpi: int = 80):
    """Yield every frame as an RGB ``PIL.Image``. The still parts (contours, axes, legend) are drawn
    once; each frame restores them and draws only the artists that move (blitting)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig = scene.figure
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    moving = scene.update(0)
    for artist in moving:
        artist.set_animated(True)
    canvas.draw()  # the still picture, and the layout, once
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    for i in range(len(scene.steps)):
        canvas.restore_region(background)
        for artist in scene.update(i):
            artist.axes.draw_artist(artist)
        width, height = canvas.get_width_height()
        yield Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")


def _palette(images):
    """One 256-colour palette for every frame (no flicker), from the first, middle and last frames
    side by side, so that it holds the colours of the paths as well as the contours."""
    from PIL import Image

    picks = [images[0], images[len(images) // 2], images[-1]]
    width, height = picks[0].size
    sheet = Image.new("RGB", (width * len(picks), height))
    for i, im in enumerate(picks):
        sheet.paste(im, (i * width, 0))
    return sheet.quantize(colors=256)


def encoder(path):
    """The ffmpeg binary an ``.mp4`` needs (None for a GIF); a clear error where there is none."""
    import shutil

    if Path(path).suffix.lower() != ".mp4":
        return None
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError("an .mp4 animation needs an ffmpeg binary on the PATH (none was found): write a .gif instead")
    return ffmpeg


def animate(result, path, *, frames: int = MAX_FRAMES, fps: int = 15, dpi: int = 80, trail: int = TRAIL,
            box=None, progress: bool | None = None, size=None, font_scale: float = 1.0) -> Path:
    """Write the animation of ``result`` (a plot's Experiment or Ensemble) to ``path`` (.gif, or .mp4
    with ffmpeg), atomically; returns the path. GIF frames share one palette. ``box``: the region
    drawn (default: the landscape's plot box; 1-D graphs zoom to the runs). Every frame is ``size``
    (inches, ``"WxH"`` or a pair; default 7×6) times ``dpi`` pixels; ``font_scale`` scales its text."""
    import subprocess

    path = check_output_path(path, ANIMATION_FORMATS)
    fmt = path.suffix.lower().lstrip(".")
    ffmpeg = encoder(path)
    scene = AnimationScene.for_result(result, frames, trail, box, size=size, font_scale=font_scale)

    def write(tmp):
        with progress_bar(len(scene.steps), "animation", enabled=progress) as bar:
            images = []
            for image in render_frames(scene, dpi):
                images.append(image)
                bar.advance(1)
        if fmt == "gif":
            palette = _palette(images)
            frames_ = [im.quantize(palette=palette) for im in images]
            frames_[0].save(tmp, save_all=True, append_images=frames_[1:], duration=round(1000 / fps), loop=0)
            return
        width, height = images[0].size
        command = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", tmp]
        done = subprocess.run(command, input=b"".join(im.tobytes() for im in images), capture_output=True)
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            raise ValueError(f"ffmpeg could not write the .mp4 (exit {done.returncode}"
                             f"{': ' + said[-1] if said else ''}); write a .gif instead")

    return _atomic(path, write, suffix=path.suffix)
