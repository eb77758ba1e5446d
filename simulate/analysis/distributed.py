"""A sweep's grid on a Dask cluster: cut into chunks, each chunk one vectorized run on a worker.

:func:`~simulate.analysis.sweep.sweep` with ``scheduler=`` comes here. The grid's cells (C order)
are cut into hyperslabs (:func:`chunks`): each is a contiguous range of flat cell indices and a
rectangular block of the grid, so that a chunk is one zarr chunk of a store. Each (optimizer,
chunk) is one task, retried where its worker fails; results are gathered in cell order, or, with
``store=``, written into a zarr store as they arrive (grids larger than memory). Every member's
arithmetic is elementwise and noisy draws follow the cell's index, so any cut gives the serial
sweep's bits.

dask (``dask[distributed]``) is optional: it is imported here, when a sweep is given a scheduler.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re

import numpy as np

from .._optional import optional
from ..io.progress import progress_bar

__all__ = ["chunks", "chunk_size", "client_for", "run_chunks", "stored_sweep", "RETRIES", "MEMBER_STEPS", "ADDRESS", "local_reads"]

#: How many times a chunk whose worker failed (an exception, a lost worker) is run again.
RETRIES = 3
#: A chunk is at least this many member-steps (cells × steps): one sizeable vectorized run, well
#: beyond the scheduler's cost per task (about a millisecond).
MEMBER_STEPS = 4_000_000
#: At least this many cells per chunk: the numpy loop's cost per step (tracked metrics) amortized over them.
MIN_CHUNK_CELLS = 20_000
#: At least this many chunks per worker where the grid allows (the load balanced, the bar moving).
CHUNKS_PER_WORKER = 4
#: At most this many cells per chunk (a worker holds a few arrays of its cells: tens of MB).
MAX_CHUNK_CELLS = 1_000_000
#: Seconds to wait for a scheduler given by its address.
CONNECT_SECONDS = 10
#: A scheduler's address: [PROTOCOL://]HOST:PORT.
ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ucx|ws|wss)://)?\[?[A-Za-z0-9_.\-:]+\]?:\d{1,5}$")


def chunks(grid: tuple[int, ...], size: int) -> tuple[list[tuple[int, int, tuple]], tuple[int, ...]]:
    """Cut ``grid`` into hyperslabs of at most ``size`` cells (at least one row of the last axis):
    ``[(lo, hi, region), ...]``, the flat range ``[lo, hi)`` and the block of the grid it is
    (slices), and the block's shape (a store's chunk shape; the last along the cut axis may be shorter)."""
    grid = tuple(int(n) for n in grid)
    trailing = [math.prod(grid[j + 1:]) for j in range(len(grid))]
    cut = next(j for j in range(len(grid)) if trailing[j] <= size)  # trailing[-1] = 1
    block = max(1, min(grid[cut], size // trailing[cut]))
    out = []
    for lead in np.ndindex(*grid[:cut]):
        for start in range(0, grid[cut], block):
            stop = min(grid[cut], start + block)
            lo = int(np.ravel_multi_index(lead + (start,) + (0,) * (len(grid) - cut - 1), grid))
            region = tuple(slice(i, i + 1) for i in lead) + (slice(start, stop),) + (slice(None),) * (len(grid) - cut - 1)
            out.append((lo, lo + (stop - start) * trailing[cut], region))
    return out, (1,) * cut + (block,) + grid[cut + 1:]


def chunk_size(cells: int, steps: int, workers: int, chunk_cells: int | None = None) -> int:
    """Cells per chunk: ``chunk_cells`` if given, else at least :data:`MEMBER_STEPS` member-steps
    and :data:`MIN_CHUNK_CELLS` cells,
    and at most what gives every worker :data:`CHUNKS_PER_WORKER` chunks and :data:`MAX_CHUNK_CELLS`."""
    if chunk_cells is not None:
        if isinstance(chunk_cells, bool) or not isinstance(chunk_cells, (int, np.integer)) or chunk_cells < 1:
            raise ValueError(f"chunk_cells must be a whole number >= 1, got {chunk_cells!r}")
        return int(chunk_cells)
    least = max(MIN_CHUNK_CELLS, math.ceil(MEMBER_STEPS / max(int(steps), 1)))
    return max(least, min(MAX_CHUNK_CELLS, math.ceil(cells / (CHUNKS_PER_WORKER * max(workers, 1)))))


@contextlib.contextmanager
def client_for(scheduler):
    """A ``distributed.Client`` for ``scheduler``: a client as it is; an address (``tcp://host:port``)
    connected to and closed after; a number N: a LocalCluster of N worker processes (one thread
    each), started and closed after."""
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):  # a Client (or one like it)
        yield scheduler
        return
    distributed = optional("distributed", "a sweep on a Dask cluster (scheduler=)")
    if isinstance(scheduler, (int, np.integer)) and not isinstance(scheduler, bool):
        if scheduler < 1:
            raise ValueError(f"a local cluster needs at least 1 worker, got {scheduler}")
        with distributed.LocalCluster(n_workers=int(scheduler), processes=True, threads_per_worker=1,
                                      dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
            yield client
        return
    if not isinstance(scheduler, str) or not ADDRESS.match(scheduler.strip()):
        raise ValueError(f"scheduler must be a distributed.Client, a scheduler's address such as tcp://host:8786, "
                         f"or a number of local workers, got {scheduler!r}")
    try:
        client = distributed.Client(scheduler.strip(), timeout=f"{CONNECT_SECONDS}s")
    except (OSError, TimeoutError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"no Dask scheduler answered at {scheduler} within {CONNECT_SECONDS} s ({first}): start one "
                         f"(dask scheduler) or check the address") from None
    with client:
        yield client


def _run_chunk(task, lo: int, hi: int) -> dict:
    """One chunk on a worker: ``_Cells.run`` of the cells [lo, hi)."""
    return task.run(lo, hi)


def _submitted(client, tasks, pieces, retries: int):
    """Every (optimizer, chunk) submitted: ``{future: (member, lo, hi, region)}``."""
    shared = client.scatter(list(tasks), broadcast=True, hash=False)  # each optimizer's task sent once to every worker
    jobs = {}
    for i, task in enumerate(shared):
        for lo, hi, region in pieces:
            future = client.submit(_run_chunk, task, lo, hi, retries=retries, pure=False)
            jobs[future] = (i, lo, hi, region)
    return jobs


def _each_done(tasks, scheduler, chunk_cells, progress, retries, cut=None):
    """Run every chunk; yield ``(member, lo, hi, region, result)`` as each arrives. ``cut(block)``
    is called with the chunks' block shape before any is submitted."""
    distributed = optional("distributed", "a sweep on a Dask cluster (scheduler=)")
    first = tasks[0]
    with client_for(scheduler) as client:
        workers = len(client.scheduler_info().get("workers", {})) or 1
        size = chunk_size(first.cells, first.steps, workers, chunk_cells)
        pieces, block = chunks(first.grid, size)
        if cut is not None:
            cut(block)
        jobs = _submitted(client, tasks, pieces, retries)
        try:
            with progress_bar(len(jobs), "sweep (chunks)", enabled=progress) as bar:
                for future in distributed.as_completed(list(jobs)):
                    i, lo, hi, region = jobs.pop(future)
                    result = future.result()  # a chunk that failed every retry raises here
                    future.release()
                    yield i, lo, hi, region, result
                    bar.advance(1)
        finally:
            client.cancel(list(jobs))  # those left when one failed for good, or the caller stopped


def run_chunks(tasks, scheduler, *, chunk_cells: int | None = None, progress: bool | None = None,
               retries: int = RETRIES) -> list[dict]:
    """Each task's results over all its cells (``_Cells.run(0, cells)``'s), its chunks run on the cluster."""
    cells = tasks[0].cells
    out = [{} for _ in tasks]
    for i, lo, hi, _, result in _each_done(tasks, scheduler, chunk_cells, progress, retries):
        for name, values in result.items():
            at = 1 if name == "_path" else 0  # a path is (T, n, d): its cells on the second axis
            if name not in out[i]:
                shape = values.shape[:at] + (cells,) + values.shape[at + 1:]
                out[i][name] = np.empty(shape, values.dtype)
            out[i][name][(slice(None),) * at + (slice(lo, hi),)] = values
    return out


def stored_sweep(template, tasks, path, scheduler, *, chunk_cells: int | None = None, progress: bool | None = None,
                 retries: int = RETRIES):
    """Run the chunks into a zarr store at ``path`` (format 2, consolidated, the layout of
    :meth:`~simulate.analysis.sweep.Sweep.to_xarray`), each written as it arrives; the store is
    built in a temporary folder and renamed into place at the end. Returns the Sweep reading it
    (metrics, starts and paths as dask arrays over the store)."""
    from ..io.files import check_output_path, write_together

    xr = optional("xarray", "a stored sweep (store=)")
    optional("zarr", "a stored sweep (store=)")
    path = check_output_path(path, ("zarr",))
    write_together([(path, lambda tmp: _fill(template, tasks, tmp, scheduler, chunk_cells, progress, retries))],
                   suffix=".zarr", guarded=False)  # interruptible while the chunks run; each write is guarded
    return _opened(template, xr.open_zarr(path, consolidated=True), tasks[0].metric_types())


def _fill(template, tasks, folder, scheduler, chunk_cells, progress, retries) -> None:
    """The store's layout first (its numbers empty), then every chunk's numbers as it arrives, then
    the attributes (the summary, from the numbers written)."""
    da = optional("dask.array", "a stored sweep (store=)")
    xr = optional("xarray", "a stored sweep (store=)")
    zarr = optional("zarr", "a stored sweep (store=)")
    first, grid = tasks[0], tasks[0].grid
    types = first.metric_types()
    store = {}

    def layout(block):  # every variable chunked as the chunks are cut: each chunk writes its own zarr chunks
        d, m = first.landscape.dim, len(tasks)
        lazy = {name: da.zeros((m,) + grid, dtype=kind, chunks=(1,) + block) for name, kind in types.items()}
        start = da.zeros(grid + (d,), chunks=block + (d,))
        paths = None
        if first.record_every:
            paths = da.zeros((m, len(template.path_steps)) + grid + (d,), chunks=(1, -1) + block + (d,))
        shaped = dataclasses.replace(template, metrics=lazy, start=start, paths=paths)
        shaped._dataset({}).to_zarr(folder, mode="w", zarr_format=2, consolidated=True, compute=False)
        store["group"] = zarr.open_group(folder, mode="r+", zarr_format=2)

    from ..io.files import blocked_signals

    for i, lo, hi, region, result in _each_done(tasks, scheduler, chunk_cells, progress, retries, cut=layout):
        with blocked_signals():  # zarr's writer threads finish a chunk before an interrupt removes the folder
            _write_chunk(store["group"], first, types, grid, i, lo, hi, region, result)
    whole = _opened(template, xr.open_zarr(folder, consolidated=True), types)
    with local_reads(), blocked_signals():
        store["group"].attrs.update(whole._attributes())
        zarr.consolidate_metadata(folder, zarr_format=2)


def _write_chunk(group, first, types, grid, i, lo, hi, region, result) -> None:
    """One chunk's numbers (member i, cells [lo, hi)) into their region of the store."""
    shape = tuple(len(range(*s.indices(n))) for s, n in zip(region, grid))
    for name in types:
        group[name][(i,) + region] = result[name].reshape(shape)
    if first.record_every:
        path = result["_path"]
        group["paths"][(i, slice(None)) + region] = path.reshape(path.shape[:1] + shape + path.shape[-1:])
    if i == 0:
        group["start"][region] = first.start_points(first.base, first.starts, grid, lo, hi).reshape(shape + (-1,))


def local_reads():
    """Reads of a store here, in threads (not each a round trip through the cluster's scheduler)."""
    dask = optional("dask", "a stored sweep (store=)")
    return dask.config.set(scheduler="threads")


def _opened(template, dataset, names):
    """The sweep ``template`` describes, its metrics ``names`` read lazily from ``dataset`` (an opened store)."""
    metrics = {name: dataset[name].data for name in names}
    paths = dataset["paths"].data if "paths" in dataset else None
    return dataclasses.replace(template, metrics=metrics, start=dataset["start"].data, paths=paths)
