"""Writing outputs: checked before any work is done, written atomically (temporary file, then rename).

Outputs are deterministic: NPZ members carry a fixed timestamp and figures no creation date, so
the same run on the same machine writes the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

__all__ = ["FIGURE_FORMATS", "check_output_path", "save_figure", "save_npz", "load_npz", "save_json", "save_text",
           "write_together"]

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

FIGURE_FORMATS = ("png", "svg", "pdf")


def check_output_path(path, formats: tuple[str, ...] | None = None, overwrite: bool = True) -> Path:
    """Fail early, before any computation, on a path that cannot (or may not) be written.

    ``formats``, if given, are the allowed extensions.
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if formats is not None and suffix not in formats:
        raise ValueError(f"cannot write {str(path)!r}: the extension must be one of {', '.join('.' + f for f in formats)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a folder")
    if path.exists() and not overwrite:
        raise ValueError(f"{str(path)!r} exists; pass --overwrite to replace it")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A failure halfway leaves any existing file at ``path`` untouched and no partial file behind.
    ``suffix``: the temporary's extension, for writers that choose the format from it.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
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


def write_together(writes) -> list[Path]:
    """Run every ``(path, write)`` (``write(tmp)`` writes one file) on temporaries beside the paths,
    then rename them all into place: a failure or an interrupt in any writer (an animation whose
    encoder fails, Ctrl-C during a long render) leaves every existing file untouched and none of
    the new ones behind. Returns the paths."""
    staged = []
    try:
        for path, write in writes:
            path = Path(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                       dir=path.parent if str(path.parent) else ".")
            os.close(fd)
            staged.append((tmp, path))
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [path for _, path in staged]


def save_figure(fig, path, *, dpi: int = 150, description: str | None = None) -> Path:
    """Save a matplotlib figure; the format comes from the extension (png, svg, pdf).

    ``description`` (the command that made it) goes into the file's metadata.
    """
    from .._version import __version__

    path = check_output_path(path, FIGURE_FORMATS)
    fmt = path.suffix.lower().lstrip(".")
    creator = f"simulate {__version__}"
    metadata = {
        "png": {"Software": creator, "Description": description},
        "svg": {"Creator": creator, "Description": description, "Date": None},
        "pdf": {"Creator": creator, "Subject": description, "CreationDate": None},
    }[fmt]
    metadata = {k: v for k, v in metadata.items() if v is not None or k in ("Date", "CreationDate")}

    def write(tmp):
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "simulate"}):  # SVG ids from a fixed salt, not random
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)

    return _atomic(path, write)


def save_npz(path, arrays: dict) -> Path:
    """Save arrays to a compressed ``.npz`` file (readable by ``np.load``), byte for byte reproducible."""
    import numpy as np

    path = check_output_path(path, ("npz",))

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, value in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w") as fh:
                    np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)

    return _atomic(path, write)


def load_npz(path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, loaded eagerly (no pickles)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def save_json(path, obj) -> Path:
    """Save a small summary as JSON (NaN and infinities become null)."""
    path = check_output_path(path, ("json",))
    text = json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return save_text(path, text)


def save_text(path, text: str) -> Path:
    """Write text atomically."""
    path = Path(path)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return _atomic(path, write)
