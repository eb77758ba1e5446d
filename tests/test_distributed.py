"""Sweeps on a Dask cluster (simulate.analysis.distributed): a LocalCluster of two worker processes
runs the grid in chunks, and every metric, start and path equals the serial sweep's, bit for bit."""

import functools
import sys

import distributed  # the test extra installs it (dask[distributed])
import numpy as np
import pytest

import simulate.analysis.distributed as dist
from simulate.analysis.sweep import sweep
from simulate.cli.app import main


GRID = ["lr=1e-4:1e-2:7:log", "momentum=0.1:0.9:5"]  # 35 cells: chunks of 4 leave an uneven last one


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def same(serial, chunked):
    """Every metric, the starts, the paths and the labels: identical arrays (not close: equal)."""
    assert chunked.members == serial.members and list(chunked.metrics) == list(serial.metrics)
    for name, values in serial.metrics.items():
        np.testing.assert_array_equal(np.asarray(chunked.metrics[name]), values, err_msg=name)
        assert np.asarray(chunked.metrics[name]).dtype == values.dtype
    np.testing.assert_array_equal(np.asarray(chunked.start), serial.start)
    assert (chunked.paths is None) == (serial.paths is None)
    if serial.paths is not None:
        np.testing.assert_array_equal(np.asarray(chunked.paths), serial.paths)
        np.testing.assert_array_equal(chunked.path_steps, serial.path_steps)


def test_the_chunks_cut_the_grid_into_contiguous_blocks_that_cover_it_once():
    for grid, size in [((7, 5), 4), ((3, 4, 5), 7), ((3, 4, 5), 45), ((10,), 3), ((2, 3), 100)]:
        pieces, block = dist.chunks(grid, size)
        seen = np.zeros(grid, int)
        flat = np.arange(int(np.prod(grid))).reshape(grid)
        assert pieces[0][0] == 0 and pieces[-1][1] == flat.size
        for (lo, hi, region), following in zip(pieces, pieces[1:] + [(flat.size,)]):
            assert following[0] == hi and 0 < hi - lo <= max(size, grid[-1])  # contiguous, in cell order
            np.testing.assert_array_equal(flat[region].reshape(-1), np.arange(lo, hi))  # the block is the range
            assert all(n <= b for n, b in zip(flat[region].shape, block))
            seen[region] += 1
        assert np.all(seen == 1)


@pytest.mark.parametrize("chunk_cells", [4, 13])
def test_a_2d_grid_with_its_tracked_metrics_equals_the_serial_sweep(client, chunk_cells):
    serial = sweep("rosenbrock", ["momentum", "nesterov"], GRID, steps=60)
    assert {"steps_to_tol", "rate", "verdict"} <= set(serial.metrics)  # the tracked metrics are compared too
    same(serial, sweep("rosenbrock", ["momentum", "nesterov"], GRID, steps=60, scheduler=client, chunk_cells=chunk_cells))


def test_recorded_paths_and_start_axes_equal_the_serial_sweep(client):
    axes = ["x=-2:2:6", "y=-1:3:5", "lr=1e-3,3e-3"]
    serial = sweep("himmelblau", "adam", axes, steps=40, record_every=7)
    same(serial, sweep("himmelblau", "adam", axes, steps=40, record_every=7, scheduler=client, chunk_cells=9))


def test_the_compiled_engine_chunked_equals_it_serial(client):
    serial = sweep("rosenbrock", "momentum", GRID, steps=80, track=(), engine="compiled", record_every=20)
    same(serial, sweep("rosenbrock", "momentum", GRID, steps=80, track=(), engine="compiled", record_every=20,
                       scheduler=client, chunk_cells=6))


def test_a_landscape_parameter_axis_equals_the_serial_sweep(client):
    axes = ["lr=0.05:0.5:4:log", "gamma=0,0.3,1"]
    serial = sweep("dirac-gan", "gd", axes, steps=50)
    chunked = sweep("dirac-gan", "gd", axes, steps=50, scheduler=client, chunk_cells=3)
    same(serial, chunked)
    assert chunked.stats["landscape_axes"] == serial.stats["landscape_axes"] == ("gamma",)


def test_noisy_cells_draw_by_cell_index_and_equal_the_serial_sweep(client):
    # each cell's draws follow (seed, cell index, step): not the chunk it ran in
    axes = ["lr=1e-3,1e-2,3e-2", "path=1:8:8"]
    serial = sweep("himmelblau", ["sgd", "adam"], axes, steps=30, noise=0.1, seed=5, record_every=10)
    chunked = sweep("himmelblau", ["sgd", "adam"], axes, steps=30, noise=0.1, seed=5, record_every=10,
                    scheduler=client, chunk_cells=5)
    same(serial, chunked)
    assert np.unique(serial.metrics["final_loss"][0, 0]).size == 8  # the paths differ: noise was drawn


def test_a_store_holds_the_serial_sweeps_dataset(client, tmp_path):
    import xarray as xr  # the test extra installs it
    path = tmp_path / "grid.zarr"
    serial = sweep("rosenbrock", ["momentum", "nesterov"], GRID, steps=60, record_every=20)
    stored = sweep("rosenbrock", ["momentum", "nesterov"], GRID, steps=60, record_every=20, scheduler=client,
                   chunk_cells=4, store=path)
    assert not isinstance(stored.metrics["final_loss"], np.ndarray)  # read from the store, as needed
    with dist.local_reads():  # here, not each read a round trip through the cluster
        same(serial, stored)
        read = xr.open_zarr(path)
        expected = serial.to_xarray()
        for name in expected.data_vars:
            np.testing.assert_array_equal(read[name].values, expected[name].values, err_msg=name)
        assert read.attrs["summary"] == expected.attrs["summary"] == stored.summary()
        xr.testing.assert_identical(stored.to_xarray().load(), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.zarr"]  # no temporary left beside it


def test_ctrl_c_while_a_stored_sweep_runs_stops_it_between_chunks_and_leaves_nothing(client, tmp_path, monkeypatch):
    import os
    import signal

    arrived = []
    each_done = dist._each_done

    def interrupted_after_the_first(*args, **kwargs):
        for chunk in each_done(*args, **kwargs):
            arrived.append(chunk[1])
            yield chunk
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C once the first chunk is written

    monkeypatch.setattr(dist, "_each_done", interrupted_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        sweep("rosenbrock", "momentum", GRID, steps=20, scheduler=client, chunk_cells=4, store=tmp_path / "s.zarr")
    assert len(arrived) == 1  # not held until the whole grid had run (35 cells: 9 chunks)
    assert list(tmp_path.iterdir()) == []  # neither the store nor its temporary


def test_a_stored_sweep_is_not_refused_for_memory_and_a_refusal_names_the_store(client, tmp_path, monkeypatch):
    import simulate.analysis.sweep as sweep_module
    import simulate.solvers.trajectory as trajectory

    monkeypatch.setattr(sweep_module, "MAX_CELLS", 20)
    with pytest.raises(ValueError, match=r"store= \(--store out.zarr\) with a scheduler"):
        sweep("rosenbrock", "momentum", GRID, steps=20)
    monkeypatch.setattr(sweep_module, "MAX_CELLS", 10**7)
    monkeypatch.setattr(trajectory, "MAX_RECORD_BYTES", 2000)
    with pytest.raises(ValueError, match=r"would record .*store="):
        sweep("rosenbrock", "momentum", GRID, steps=20)
    stored = sweep("rosenbrock", "momentum", GRID, steps=20, scheduler=client, chunk_cells=8, store=tmp_path / "s.zarr")
    monkeypatch.undo()
    with dist.local_reads():
        same(sweep("rosenbrock", "momentum", GRID, steps=20), stored)


def _fail_first(folder, task, lo, hi):
    """A chunk function whose chunk at cell 10 fails on its first attempt (a marker file says it did)."""
    import os

    marker = os.path.join(folder, f"attempted-{lo}")
    with open(os.path.join(folder, "log"), "a") as log:
        if lo == 10 and not os.path.exists(marker):
            open(marker, "w").close()
            log.write(f"failed {lo}\n")
            raise RuntimeError("a worker's chunk failed")
        log.write(f"ran {lo}\n")
    return task.run(lo, hi)


def test_a_failed_chunk_is_retried_and_the_result_is_the_same(client, tmp_path, monkeypatch):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module
    try:
        monkeypatch.setattr(dist, "_run_chunk", functools.partial(_fail_first, str(tmp_path)))
        chunked = sweep("rosenbrock", "momentum", GRID, steps=30, scheduler=client, chunk_cells=4)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    log = (tmp_path / "log").read_text().splitlines()
    assert log.count("failed 10") == 1 and log.count("ran 10") == 1 and log.index("failed 10") < log.index("ran 10")
    assert len(log) == 15  # 14 chunks (7 rows of 4 + 1), one of them twice
    same(sweep("rosenbrock", "momentum", GRID, steps=30), chunked)


@pytest.mark.slow  # a LocalCluster of its own, started and closed by the command
def test_the_cli_with_two_local_workers_writes_the_serial_sweeps_data(tmp_path, capsys):
    data = tmp_path / "grid.npz"
    argv = ["sweep", "-o", "momentum", "-o", "nesterov", *sum((["-v", a] for a in GRID), []), "--steps", "60",
            "--workers", "2", "--chunk-cells", "6", "--data", str(data), "--out", str(tmp_path / "grid.png")]
    assert main(argv) == 0
    written = np.load(data)
    serial = sweep("rosenbrock", ["momentum", "nesterov"], GRID, steps=60)
    for name, values in serial.metrics.items():
        np.testing.assert_array_equal(written[name], values, err_msg=name)
    assert "workers = 2" in (tmp_path / "grid.run.toml").read_text()


def test_a_bad_address_or_an_unreachable_scheduler_is_one_clear_line(monkeypatch, capsys):
    assert main(["sweep", "--scheduler", "tcp://no host", "--steps", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected a Dask scheduler's address such as tcp://" in err
    monkeypatch.setattr(dist, "CONNECT_SECONDS", 1)
    with pytest.raises(ValueError, match=r"no Dask scheduler answered at tcp://127.0.0.1:9 within 1 s"):
        sweep("rosenbrock", "gd", "lr=1e-3,1e-2", steps=5, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="store= writes a distributed sweep's chunks"):
        sweep("rosenbrock", "gd", "lr=1e-3,1e-2", steps=5, store="s.zarr")


def test_without_dask_a_cluster_sweep_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # an import of it fails, as where it is not installed
    with pytest.raises(ModuleNotFoundError, match=r'needs the optional package distributed: pip install "dask\[distributed\]"'):
        sweep("rosenbrock", "gd", "lr=1e-3,1e-2", steps=5, workers=2)
    assert main(["sweep", "--workers", "2", "--steps", "5"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "dask[distributed]"' in err and ".[dask]" in err


def test_an_existing_store_is_kept_without_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / ".zgroup").write_text('{"zarr_format": 2}')  # a store another run wrote
    argv = ["sweep", "--vary", "lr=1e-3,1e-2", "--steps", "5", "--workers", "2", "--store", "s.zarr", "--out", "f.png"]
    assert main(argv) == 2
    assert "'s.zarr' exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"] and (store / ".zgroup").exists()  # untouched
