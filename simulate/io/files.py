"""Writing outputs: checked before any work is done, written atomically (temporary file, then rename).

Outputs are deterministic: NPZ members carry a fixed timestamp and figures no creation date, so
the same run on the same machine writes the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where arrays are written, not with this module
    import numpy as np

__all__ = ["FIGURE_FORMATS", "DATASET_FORMATS", "check_output_path", "save_figure", "save_npz", "load_npz",
           "save_dataset", "check_dataset_writer", "save_json", "save_text", "write_together",
           "remove_stale_temporaries"]

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

FIGURE_FORMATS = ("png", "svg", "pdf")
#: Labelled datasets (xarray): ``.nc`` a netCDF-4 file (h5netcdf), ``.zarr`` a zarr store, which is a folder.
DATASET_FORMATS = ("nc", "zarr")
#: The formats whose output is a folder: written as a temporary folder, then renamed into place.
FOLDER_FORMATS = ("zarr",)


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
        why = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"cannot write {str(path)!r}: {str(folder)!r} {why}")
    _probe_writable(path, folder)
    if path.is_dir() and not _is_store(path):
        store = " that is not a zarr store" if _is_folder_format(path) else ""
        raise ValueError(f"cannot write {str(path)!r}: it is a folder{store}; remove it or choose another name")
    if os.path.lexists(path) and not overwrite:  # a dangling symlink too: writing would replace it
        raise ValueError(f"{str(path)!r} exists; pass --overwrite to replace it")
    return path


def _probe_writable(path: Path, folder: Path) -> None:
    """Create and remove a file in ``folder``: permission bits do not tell (root may write a read-only
    folder's bits but not /proc, a read-only mount or a full disk), and the run's work comes after."""
    probe = None
    try:  # a signal meanwhile must not leave the probe: it is a temporary like the outputs' own
        try:
            fd, probe = tempfile.mkstemp(prefix=f".probe{_TEMP_MARK}{os.getpid()}-", dir=folder)
        except OSError as exc:
            raise ValueError(f"cannot write {str(path)!r}: no file can be created in folder {str(folder)!r} "
                             f"({exc.strerror or exc})") from None
        _LIVE.add(probe)
        os.close(fd)
    finally:
        if probe is not None:
            _LIVE.discard(probe)
            if os.path.lexists(probe):
                os.unlink(probe)
    try:  # the temporary beside it is longer still (a dot, the run's mark, a random part)
        longest = os.pathconf(folder, "PC_NAME_MAX") - 40
    except (OSError, ValueError):
        longest = 215
    if len(os.fsencode(path.name)) > longest:
        raise ValueError(f"cannot write {str(path)[:60]!r}…: its name is {len(os.fsencode(path.name))} bytes, "
                         f"at most {longest} are possible here")


def _is_folder_format(path) -> bool:
    return Path(path).suffix.lower().lstrip(".") in FOLDER_FORMATS


def _is_store(path: Path) -> bool:
    """Whether ``path`` is a folder of a folder format that ``overwrite`` may replace: a store an
    earlier write made (zarr v2 or v3), or an empty folder (a temporary made for it); any other
    folder is never replaced."""
    if not (_is_folder_format(path) and path.is_dir()):
        return False
    return not any(path.iterdir()) or any((path / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray"))


def _remove(path) -> None:
    """Remove a file, a symlink or (a folder format's temporary, a replaced store) a folder."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A temporary's name says whose it is: ``.figure.png.simulate-<pid>-<random>.png``, so that a run
# killed outright (SIGKILL, a power cut) leaves temporaries the next write to their folder removes.
_TEMP_MARK = ".simulate-"
_STALE = re.compile(r"^\..+\.simulate-(\d+)-[A-Za-z0-9_]+(?:\.[A-Za-z0-9]+)?$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to tell: keep its files
        return True
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove the temporaries in ``folder`` that a killed run left (their process is gone); return them."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _STALE.match(name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            try:
                _remove(os.path.join(folder, name))
                removed.append(Path(folder) / name)
            except OSError:
                pass
    return removed


_LIVE: set[str] = set()  # this process's temporaries not yet placed or removed


#: The signals that asked this run to stop (the command line's handler notes them here). Placing
#: outputs checks it: an interrupt that something on the way swallowed (one raised while a
#: destructor runs is only printed) still places nothing.
SIGNALLED: list[int] = []


class Stopped(BaseException):
    """Raised instead of placing outputs once a signal asked the run to stop."""


def _temporary(path: Path, suffix: str) -> str:
    """An empty temporary beside ``path``, named as its run's (see :func:`remove_stale_temporaries`):
    a file, or a folder for a folder format (:data:`FOLDER_FORMATS`)."""
    folder = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}{_TEMP_MARK}{os.getpid()}-"
    if _is_folder_format(path):
        tmp = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder)
    else:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        os.close(fd)
    _LIVE.add(tmp)
    return tmp


def remove_own_temporaries() -> None:
    """Remove every temporary this process made and has not placed: the last word of an interrupted
    command, whatever a library did with the interrupt on its way out."""
    for tmp in list(_LIVE):
        if os.path.lexists(tmp):
            _remove(tmp)
        _LIVE.discard(tmp)


def _place(tmp: str, path: Path, overwrite: bool) -> None:
    """Move the finished temporary to ``path``. Without ``overwrite`` the placement is exclusive: a
    file (or a symlink, even a dangling one) that appeared at ``path`` meanwhile, say from another
    run writing the same outputs, is kept and this write refused."""
    if os.path.isdir(tmp):
        _place_folder(tmp, path, overwrite)
        return
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        try:
            os.link(tmp, path)  # atomic, and fails if anything is at path
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: claim the name, then rename onto the claim
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.replace(tmp, path)
            return
    except FileExistsError:
        raise FileExistsError(f"{str(path)!r} exists (another run wrote it meanwhile?); "
                              "pass --overwrite to replace it") from None
    os.unlink(tmp)


def _place_folder(tmp: str, path: Path, overwrite: bool) -> None:
    """:func:`_place` for a folder (a zarr store). A rename replaces no folder that holds anything,
    so: without ``overwrite``, claim the name with an empty folder (which fails if anything is
    there), then rename onto the claim; with it, move what is at ``path`` aside, rename, and
    remove what was moved aside (put back if the rename fails)."""
    if not overwrite:
        try:
            os.mkdir(path)
        except FileExistsError:
            raise FileExistsError(f"{str(path)!r} exists (another run wrote it meanwhile?); "
                                  "pass --overwrite to replace it") from None
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rmdir(path)
            raise
        return
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if os.path.isdir(path) and not os.path.islink(path) and not _is_store(Path(path)):  # appeared since the check
        raise FileExistsError(f"cannot write {str(path)!r}: it is a folder that is not a zarr store; remove it or "
                              f"choose another name")
    aside = _temporary(path, ".old")  # named as a temporary: a run killed now leaves it to be removed
    _remove(aside)
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        _LIVE.discard(aside)
        raise
    _remove(aside)
    _LIVE.discard(aside)


def blocked_signals():
    """Hold back the signals that end a run while outputs are put in place, so that an interrupt
    leaves all of them or none: it is raised again, to whatever handler was there, when the block
    ends. Held back by a Python handler, not a thread's signal mask: a process-directed signal
    reaches any thread that does not mask it (a writer's own threads), and Python runs its handlers
    in the main thread whichever thread received it."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def held():
        pending = []
        ending = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}
        previous = {s: signal.getsignal(s) for s in ending}
        previous = {s: h for s, h in previous.items() if h is not None}  # None: a handler not set from Python
        for s in previous:
            signal.signal(s, lambda signum, frame: pending.append(signum))
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            if pending:
                signal.raise_signal(pending[0])

    return held()


def _atomic(path: Path, write, suffix: str = ".tmp", overwrite: bool = True) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A failure halfway leaves any existing file at ``path`` untouched and no partial file behind.
    ``suffix``: the temporary's extension, for writers that choose the format from it.
    """
    return write_together([(path, write)], overwrite=overwrite, suffix=suffix)[0]


def write_together(writes, *, overwrite: bool = True, suffix: str | None = None,
                   guarded: bool = True) -> list[Path]:
    """Run every ``(path, write)`` (``write(tmp)`` writes one file) on temporaries beside the paths,
    then rename them all into place: a failure or an interrupt in any writer (an animation whose
    encoder fails, Ctrl-C during a long render) leaves every existing file untouched and none of
    the new ones behind. Without ``overwrite`` no existing file is replaced, even one another run
    wrote since the paths were checked. Temporaries a killed run left in these folders are removed.
    ``guarded=False``: a folder's writer guards its own writes with :func:`blocked_signals` (a
    long one, such as a distributed sweep filling a store chunk by chunk, stays interruptible
    between them). Returns the paths."""
    staged, placed = [], []
    try:
        for path, write in writes:
            path = Path(path)
            remove_stale_temporaries(path.parent if str(path.parent) else ".")
            with blocked_signals():  # an interrupt between creating and noting it would leave it behind
                staged.append((_temporary(path, path.suffix if suffix is None else suffix), path))
            if guarded and os.path.isdir(staged[-1][0]):
                # a store's writer (zarr) runs threads that an interrupt would leave writing into the
                # folder being removed: the interrupt waits until the store is written, then removes it
                with blocked_signals():
                    write(staged[-1][0])
            else:
                write(staged[-1][0])
            # mkstemp makes 0600 (mkdtemp 0700); open() would honour the umask
            os.chmod(staged[-1][0], (0o777 if os.path.isdir(staged[-1][0]) else 0o666) & ~_umask())
        with blocked_signals():
            if SIGNALLED:
                raise Stopped(SIGNALLED[0])
            for tmp, path in staged:
                _place(tmp, path, overwrite)
                _LIVE.discard(tmp)
                placed.append(path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.lexists(tmp):
                _remove(tmp)
            _LIVE.discard(tmp)
        if not overwrite:  # the placed files are new (placement was exclusive): take them back
            for path in placed:
                _remove(path)
        raise
    return [path for _, path in staged]


def save_figure(fig, path, *, dpi: int = 150, description: str | None = None, tight: bool = True) -> Path:
    """Save a matplotlib figure; the format comes from the extension (png, svg, pdf).

    ``description`` (the command that made it) goes into the file's metadata. ``tight``: trimmed
    to what is drawn; otherwise the file has the figure's own size (a size asked for, for slides).
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
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight" if tight else None, metadata=metadata)

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


def check_dataset_writer(path) -> None:
    """Refuse, before any work, a dataset path whose writer is not installed: a ``ValueError``
    naming the extra (``.nc`` needs xarray and h5netcdf with h5py, ``.zarr`` xarray and zarr)."""
    from .._optional import optional

    fmt = Path(path).suffix.lower().lstrip(".")
    for package in ("xarray", *{"nc": ("h5netcdf", "h5py"), "zarr": ("zarr",)}[fmt]):
        try:
            optional(package, f"writing a .{fmt} file")
        except ModuleNotFoundError as exc:
            raise ValueError(f"cannot write {str(path)!r}: {exc}") from None


def save_dataset(path, dataset) -> Path:
    """Write an :class:`xarray.Dataset` atomically: ``.nc`` as netCDF-4 (engine h5netcdf), ``.zarr``
    as a zarr store (format 2, consolidated; a folder, written whole as a temporary folder, then
    renamed into place). Read them back with ``xarray.open_dataset`` and ``xarray.open_zarr``."""
    path = check_output_path(path, DATASET_FORMATS)
    check_dataset_writer(path)
    if path.suffix.lower() == ".nc":
        return _atomic(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"), suffix=".nc")
    # zarr's format 2 with consolidated metadata: what every zarr reader opens, without a warning
    return _atomic(path, lambda tmp: dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True), suffix=".zarr")


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
