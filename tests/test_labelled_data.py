"""Labelled data: a sweep as an xarray Dataset (written as .nc and .zarr, read back bit for bit), the
tables of order studies, trajectories, ensembles, runs and sweeps as pandas DataFrames, and the
optional packages' absence said with the extra to install."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import simulate as sim
from simulate.analysis.sweep import METRICS, UNITS, VERDICTS, sweep
from simulate.cli.app import app
from simulate.io import files
from simulate.io.files import save_dataset

runner = CliRunner()

# one small sweep for the whole module: two optimizers and their flows over 3 x 2 cells, paths recorded
SWEEP = dict(landscape="himmelblau", optimizers=["gd", "adam"], axes=["lr=0.001:0.1:3:log", "x=-1,1"], steps=20,
             flow="exact", record_every=5)
# the command line's sweep: the same without the flows, and a small figure (its drawing is most of the time)
SWEEP_ARGS = ["sweep", "-l", "himmelblau", "-o", "gd", "-o", "adam", "--vary", "lr=0.001:0.1:3:log", "--vary", "x=-1,1",
              "--steps", "20", "--record-every", "5", "--out", "s.png", "--dpi", "20"]


@pytest.fixture(scope="module")
def swept():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gd diverges in two cells: said, and data
        return sweep(SWEEP["landscape"], SWEEP["optimizers"], SWEEP["axes"], steps=SWEEP["steps"], flow=SWEEP["flow"],
                     record_every=SWEEP["record_every"], progress=False)


@pytest.fixture(scope="module")
def cli_swept():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sweep(SWEEP["landscape"], SWEEP["optimizers"], SWEEP["axes"], steps=SWEEP["steps"],
                     record_every=SWEEP["record_every"], progress=False)


@pytest.fixture(scope="module")
def dataset(swept):
    return swept.to_xarray()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if ".simulate-" in p.name)


def assert_holds_the_sweep(ds, s, record=None):
    """Every array of the dataset equals the sweep's own, bit for bit and of the same dtype."""
    assert ds.sizes["member"] == len(s.members)
    assert list(ds["member"].values) == list(s.members) and list(ds["kind"].values) == list(s.kinds)
    for axis in s.axes:
        assert ds[axis.name].dims == (axis.name,)
        np.testing.assert_array_equal(ds[axis.name].values, axis.values)
        assert ds[axis.name].attrs["scale"] == axis.scale and ds[axis.name].attrs["spec"] == axis.spec
    names = [a.name for a in s.axes]
    assert set(s.metrics) <= set(ds.data_vars)
    for name, values in s.metrics.items():
        assert ds[name].dims == ("member", *names)
        assert ds[name].dtype == values.dtype
        np.testing.assert_array_equal(ds[name].values, values)
        assert ds[name].attrs["description"] == METRICS[name] and ds[name].attrs["units"] == UNITS[name]
    np.testing.assert_array_equal(ds["start"].values, s.start)
    assert ds["start"].dims == (*names, "coordinate") and list(ds["coordinate"].values) == ["x1", "x2"]
    np.testing.assert_array_equal(ds["minima"].values, s.landscape.minima)
    np.testing.assert_array_equal(ds["paths"].values, s.paths)
    np.testing.assert_array_equal(ds["recorded_step"].values, s.path_steps)
    assert list(ds["optimizer"].values) == ["gd", "adam"]
    attrs = ds.attrs
    assert (attrs["landscape"], attrs["steps"], attrs["tol"], attrs["criterion"], attrs["flow"]) == \
        (s.landscape.label, s.steps, s.tol, s.criterion, s.flow)
    assert attrs["simulate_version"] == sim.__version__ and attrs["near"] == s.near
    assert np.isnan(s.reference_sharpness) and "reference_sharpness" not in attrs  # a start axis: none (NaN left out)
    lr_only = sim.sweep("himmelblau", "gd", "lr=0.001:0.01:2", steps=2)
    assert lr_only.to_xarray().attrs["reference_sharpness"] == lr_only.reference_sharpness > 0  # as in the NPZ
    assert json.loads(attrs["axes"]) == [a.spec for a in s.axes]
    assert json.loads(attrs.get("flow_methods", "null")) == s.stats.get("flow_methods")
    assert attrs["summary"] == s.summary()
    assert attrs.get("run_record") == record


def test_a_sweep_is_a_dataset_with_a_dimension_per_axis(swept, dataset):
    assert_holds_the_sweep(dataset, swept)
    # the labels select: a cell is the same number as in the arrays
    cell = dataset["final_loss"].sel(member="adam", lr=0.01, x=1.0)
    assert float(cell) == swept.metric("final_loss", "adam")[1, 1]
    verdict = dataset["verdict"].attrs
    assert list(verdict["flag_values"]) == list(range(-1, len(VERDICTS)))
    assert verdict["flag_meanings"].split()[1:] == [v.replace(" ", "_") for v in VERDICTS]
    assert dataset["lr"].attrs["description"] == "the optimizers' hyperparameter lr"
    assert dataset["x"].attrs["description"] == "the start's coordinate x"
    # a run record given as a mapping is kept as TOML text
    record = swept.to_xarray(record={"run": {"command": "sweep"}, "config": {"steps": 20}}).attrs["run_record"]
    assert record == '[run]\ncommand = "sweep"\n\n[config]\nsteps = 20\n'


@pytest.mark.parametrize("name", ["s.nc", "s.zarr"])
def test_written_datasets_read_back_bit_for_bit(swept, dataset, tmp_path, name):
    path = tmp_path / name
    assert save_dataset(path, dataset) == path
    opened = xr.open_dataset(path, engine="h5netcdf") if name.endswith(".nc") else xr.open_zarr(path)
    with opened as back:
        back = back.load()
    assert_holds_the_sweep(back, swept)
    xr.testing.assert_identical(back, dataset)
    assert leftovers(tmp_path) == []
    # written again over itself (overwrite, the default in Python): the same data, still no temporary
    save_dataset(path, swept.to_xarray(record="# a record\n"))
    opened = xr.open_dataset(path, engine="h5netcdf") if name.endswith(".nc") else xr.open_zarr(path)
    with opened as back:
        assert back.attrs["run_record"] == "# a record\n"
    assert leftovers(tmp_path) == []


def test_netcdf_is_byte_for_byte_reproducible(dataset, tmp_path):
    save_dataset(tmp_path / "a.nc", dataset)
    save_dataset(tmp_path / "b.nc", dataset)
    assert (tmp_path / "a.nc").read_bytes() == (tmp_path / "b.nc").read_bytes()


def test_the_cli_writes_a_netcdf_with_its_run_record_and_refuses_to_overwrite(cli_swept, in_tmp):
    result = runner.invoke(app, [*SWEEP_ARGS, "--data", "s.nc"])
    assert result.exit_code == 0, result.output
    # the .json summary beside it; no .csv: the dataset holds the table
    assert sorted(p.name for p in in_tmp.iterdir()) == ["s.json", "s.nc", "s.png", "s.run.toml"]
    with xr.open_dataset("s.nc", engine="h5netcdf") as back:
        assert_holds_the_sweep(back.load(), cli_swept, record=(in_tmp / "s.run.toml").read_text())
    assert json.loads((in_tmp / "s.json").read_text()) == json.loads(json.dumps(cli_swept.report()))
    before = {p.name: p.read_bytes() for p in in_tmp.iterdir()}
    again = runner.invoke(app, [*SWEEP_ARGS, "--out", "t.png", "--data", "s.nc"])
    assert again.exit_code != 0 and "'s.nc' exists; pass" in again.output
    assert {p.name: p.read_bytes() for p in in_tmp.iterdir()} == before  # nothing written, not even t.png
    assert runner.invoke(app, [*SWEEP_ARGS, "--data", "s.nc", "--overwrite"]).exit_code == 0
    assert (in_tmp / "s.nc").read_bytes() == before["s.nc"]  # the same run, the same bytes
    # its record reruns it: the same data, with the rerun's own record inside
    assert runner.invoke(app, ["rerun", "s.run.toml", "--out-dir", "again"]).exit_code == 0
    with xr.open_dataset("s.nc", engine="h5netcdf") as first, xr.open_dataset("again/s.nc", engine="h5netcdf") as rerun:
        assert rerun.attrs["run_record"] == (in_tmp / "again/s.run.toml").read_text() != first.attrs["run_record"]
        xr.testing.assert_identical(rerun.load().drop_attrs(deep=False), first.load().drop_attrs(deep=False))


def test_the_cli_writes_a_zarr_store_and_replaces_only_a_store(cli_swept, in_tmp):
    result = runner.invoke(app, [*SWEEP_ARGS, "--data", "z.zarr"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in in_tmp.iterdir()) == ["s.png", "s.run.toml", "z.json", "z.run.toml", "z.zarr"]
    with xr.open_zarr("z.zarr") as back:
        assert_holds_the_sweep(back.load(), cli_swept, record=(in_tmp / "z.run.toml").read_text())
    refused = runner.invoke(app, [*SWEEP_ARGS, "--out", "u.png", "--data", "z.zarr"])
    assert refused.exit_code != 0 and "'z.zarr' exists; pass" in refused.output
    (in_tmp / "z.zarr" / "mine.txt").write_text("kept")  # a store replaced whole, as a file is
    assert runner.invoke(app, [*SWEEP_ARGS, "--data", "z.zarr", "--overwrite"]).exit_code == 0
    assert not (in_tmp / "z.zarr" / "mine.txt").exists() and leftovers(in_tmp) == []
    # a folder that is no store is never replaced
    (in_tmp / "notes.zarr").mkdir()
    (in_tmp / "notes.zarr" / "notes.txt").write_text("mine")
    refused = runner.invoke(app, [*SWEEP_ARGS, "--data", "notes.zarr", "--overwrite"])
    assert refused.exit_code != 0 and "it is a folder that is not a zarr store" in refused.output
    assert (in_tmp / "notes.zarr" / "notes.txt").read_text() == "mine"


def test_data_npz_still_writes_npz_json_and_csv(cli_swept, in_tmp):
    assert runner.invoke(app, [*SWEEP_ARGS, "--data", "s.npz"]).exit_code == 0
    assert sorted(p.name for p in in_tmp.iterdir()) == ["s.csv", "s.json", "s.npz", "s.png", "s.run.toml"]
    assert (in_tmp / "s.csv").read_text() == cli_swept.csv()
    with np.load(in_tmp / "s.npz") as data:
        np.testing.assert_array_equal(data["final_loss"], cli_swept.metrics["final_loss"])


def test_a_failing_write_leaves_no_file_and_no_temporary(dataset, tmp_path, monkeypatch):
    def fails_halfway(self, path, *args, **kwargs):  # some bytes written, then the writer fails
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", fails_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(tmp_path / "s.nc", dataset)
    assert list(tmp_path.iterdir()) == []

    store = tmp_path / "kept.zarr"
    save_dataset(store, dataset)
    kept = sorted(str(p.relative_to(store)) for p in store.rglob("*"))

    def store_fails_halfway(self, path, *args, **kwargs):
        (Path(path) / "final_loss").mkdir()
        (Path(path) / "final_loss" / "0").write_bytes(b"partial")
        raise KeyboardInterrupt  # as a signal does

    monkeypatch.setattr(xr.Dataset, "to_zarr", store_fails_halfway)
    for path in (tmp_path / "new.zarr", store):
        with pytest.raises(KeyboardInterrupt):
            save_dataset(path, dataset)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.zarr"]  # no new store, no temporary
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*")) == kept and not files._LIVE


def test_an_interrupt_during_a_store_write_waits_for_its_writer_then_leaves_nothing(tmp_path, monkeypatch):
    """zarr writes from threads: a Ctrl-C that removed the folder meanwhile left half of it behind
    (the writer kept writing) and a traceback. The interrupt now arrives when the writer is done."""
    import os
    import signal

    xr = pytest.importorskip("xarray")
    dataset = xr.Dataset({"a": ("i", np.arange(3.0))})
    finished = []

    def interrupted_while_writing(self, path, *args, **kwargs):
        (Path(path) / "a").mkdir()
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the writer is halfway
        (Path(path) / "a" / "0").write_bytes(b"the rest")  # what zarr's threads go on writing
        finished.append(True)

    monkeypatch.setattr(xr.Dataset, "to_zarr", interrupted_while_writing)
    with pytest.raises(KeyboardInterrupt):
        save_dataset(tmp_path / "s.zarr", dataset)
    assert finished == [True] and list(tmp_path.iterdir()) == [] and not files._LIVE


def test_a_store_being_written_is_a_temporary_that_an_interrupt_or_a_later_run_removes(tmp_path):
    tmp = Path(files._temporary(tmp_path / "s.zarr", ".zarr"))  # as write_together makes it
    (tmp / "final_loss").mkdir()
    (tmp / "zarr.json").write_text("{}")
    files.remove_own_temporaries()  # what the command line does on a signal
    assert list(tmp_path.iterdir()) == [] and not files._LIVE
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".s.zarr.simulate-{int(gone.stdout)}-abc123.zarr"  # a killed run's, its process gone
    (stale / "final_loss").mkdir(parents=True)
    assert files.remove_stale_temporaries(tmp_path) == [stale] and list(tmp_path.iterdir()) == []


def test_missing_packages_name_the_extra(swept, in_tmp, monkeypatch):
    traj = sim.iterate("booth", "gd(lr=0.05)", steps=3)
    monkeypatch.setitem(sys.modules, "xarray", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match=r'Sweep.to_xarray needs .* xarray: pip install xarray pandas "h5netcdf\[h5py\]" zarr'):
        swept.to_xarray()
    with pytest.raises(ModuleNotFoundError, match=r'pandas: pip install xarray .* \(from simulate.s checkout: pip install "\.\[data\]"\)'):
        swept.to_pandas()
    with pytest.raises(ModuleNotFoundError, match=r'pip install "\.\[data\]"'):
        traj.to_pandas()
    result = runner.invoke(app, [*SWEEP_ARGS, "--data", "s.nc"])  # refused before any work, nothing written
    assert result.exit_code != 0 and 'xarray: pip install xarray pandas' in result.output
    assert list(in_tmp.iterdir()) == []
    monkeypatch.setitem(sys.modules, "xarray", xr)
    monkeypatch.setitem(sys.modules, "zarr", None)
    result = runner.invoke(app, [*SWEEP_ARGS, "--data", "s.zarr"])
    assert result.exit_code != 0 and "needs the optional package zarr" in result.output
    assert list(in_tmp.iterdir()) == []


def test_the_install_hints_name_the_packages_of_the_extras_in_pyproject():
    """An extra's hint lists its packages (pip takes them anywhere) as pyproject.toml's extra does."""
    import re
    from pathlib import Path

    from simulate._optional import EXTRAS

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    for extra, packages in EXTRAS.items():
        declared = [re.split(r"[<>=!~;]", p)[0].strip() for p in project["optional-dependencies"][extra]]
        assert set(packages) <= set(declared), (extra, packages, declared)
        assert extra != "data" or set(packages) == set(declared)


def test_importing_the_writers_imports_no_optional_package():
    code = ("import json, sys, simulate.cli.runs, simulate.analysis.sweep, simulate.solvers.trajectory; "
            "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert [m for m in loaded if m.split(".")[0] in ("xarray", "pandas", "zarr", "h5netcdf", "h5py")] == []


# -- tables -----------------------------------------------------------------------------------------------
def test_sweep_to_pandas_is_the_csv_table(swept):
    frame = swept.to_pandas()
    columns = swept.columns()
    assert list(frame.columns) == list(columns) == swept.csv().splitlines()[0].split(",")
    assert len(frame) == len(swept.members) * 6
    for name, values in columns.items():
        np.testing.assert_array_equal(frame[name].to_numpy(), values)
    assert frame["final_loss"].dtype == np.float64 and frame["steps_to_tol"].dtype == np.int64
    # the long table and the dataset agree cell by cell
    back = frame.set_index(["member", "lr", "x"])["final_loss"].to_xarray()
    np.testing.assert_array_equal(back.sel(member=list(swept.members)).values, swept.metrics["final_loss"])


def test_trajectory_to_pandas_has_a_row_per_sample_and_member():
    starts = np.array([[-1.0, 1.5], [0.5, 0.5], [2.0, -1.0]])
    traj = sim.iterate("booth", "gd(lr=0.05)", starts, steps=7)
    frame = traj.to_pandas()
    assert len(frame) == 8 * 3
    assert list(frame.columns) == ["optimizer", "kind", "flow", "member", "status", "sample", "step", "t", "f", "x1", "x2"]
    np.testing.assert_array_equal(frame["f"].to_numpy(), traj.f.reshape(-1))
    np.testing.assert_array_equal(frame[["x1", "x2"]].to_numpy(), traj.x.reshape(-1, 2))
    np.testing.assert_array_equal(frame["t"].to_numpy(), np.repeat(traj.t, 3))
    np.testing.assert_array_equal(frame["member"].to_numpy(), np.tile([0, 1, 2], 8))
    np.testing.assert_array_equal(frame["sample"].to_numpy(), np.repeat(np.arange(8), 3))
    np.testing.assert_allclose(frame["step"].to_numpy(), np.repeat(np.arange(8.0), 3), rtol=1e-12)
    assert set(frame["kind"]) == {"iterates"} and set(frame["optimizer"]) == {traj.optimizer.label}
    # one member: member 0 throughout; a flow says its model
    flow = sim.integrate("booth", "gd(lr=0.05)", starts[0], t=traj.t, flow="exact")
    frame = flow.to_pandas()
    assert len(frame) == 8 and set(frame["member"]) == {0} and set(frame["flow"]) == {"exact"}
    np.testing.assert_array_equal(frame["x2"].to_numpy(), flow.x[:, 1])


def test_order_study_to_pandas_has_a_row_per_ladder_and_rung():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = sim.order_study("quadratic(eigenvalues=(1, 10))", ["gd(lr=0.02)"], flows=["exact", "modified"],
                                rungs=3, horizon=0.2)
    frame = study.to_pandas()
    assert len(frame) == 6 and list(frame.columns) == list(study.table()[0])
    assert list(frame["flow"]) == ["exact"] * 3 + ["modified"] * 3
    for i, r in enumerate(study.results):
        rows = frame[frame["ladder"] == i]
        np.testing.assert_array_equal(rows["time_per_step"].to_numpy(), r.time_per_step)
        np.testing.assert_array_equal(rows["error"].to_numpy(), r.error)
        np.testing.assert_array_equal(rows["slope_from_previous"].to_numpy()[1:], r.local_slopes)
        one = r.to_pandas()
        np.testing.assert_array_equal(one["error"].to_numpy(), r.error)
        assert set(one["flow"]) == {r.flow}


def test_ensemble_and_experiment_to_pandas_stack_their_records():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ens = sim.ensemble("quadratic", ["sgd(lr=0.1)"], steps=6, paths=4, noise="noise(scale=0.5)", seed=1,
                           drift="exact")
    frame = ens.to_pandas()
    e = ens.entries[0]
    records = [t for t in (e.iterates, e.sde, e.flow) if t is not None]
    assert len(frame) == sum(t.f.size for t in records)
    assert list(frame["kind"].unique()) == [t.kind for t in records]
    noisy = frame[frame["kind"] == "iterates"]
    np.testing.assert_array_equal(noisy["f"].to_numpy(), e.iterates.f.reshape(-1))
    assert noisy["member"].nunique() == 4

    run = sim.run_experiment("booth", ["gd(lr=0.05)", "adam(lr=0.5)"], np.array([[-1.0, 1.5], [0.5, 0.5]]), steps=5)
    frame = run.to_pandas()
    assert len(frame) == 2 * 2 * 6 * 2  # two optimizers, iterates and flow, 6 samples, 2 starts
    flow = frame[(frame["entry"] == 1) & (frame["kind"] == "flow")]
    np.testing.assert_array_equal(flow["x1"].to_numpy(), run.entries[1].flow_at_steps.x[..., 0].reshape(-1))
    np.testing.assert_array_equal(flow["t"].to_numpy(), np.repeat(run.entries[1].iterates.t, 2))
