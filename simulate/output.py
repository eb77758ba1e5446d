"""Writing outputs: checked before any work is done, written atomically (temporary file, then rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FIGURE_FORMATS", "check_output_path", "save_figure", "save_npz"]

FIGURE_FORMATS = ("png", "svg", "pdf")


def check_output_path(path, formats: tuple[str, ...]) -> Path:
    """Fail early, before any computation, on a path that cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ValueError(f"cannot write {str(path)!r}: the extension must be one of {', '.join('.' + f for f in formats)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a folder")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A failure halfway leaves any existing file at ``path`` untouched and no partial file behind.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure(fig, path, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure; the format comes from the extension (png, svg, pdf)."""
    path = check_output_path(path, FIGURE_FORMATS)
    fmt = path.suffix.lower().lstrip(".")
    return _atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))


def save_npz(path, arrays: dict) -> Path:
    """Save arrays to a compressed ``.npz`` file."""
    path = check_output_path(path, ("npz",))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return _atomic(path, write)
