"""Issue 19, bounded and hardened: files the user names, signals, concurrent writers, stale
temporaries, records that point elsewhere, and runs that would not fit in memory."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simulate as sim
from simulate.io.config import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH
from simulate.io.files import write_together
from test_runs import cli, in_tmp  # noqa: F401 (in_tmp is a fixture)

SIMULATE = [sys.executable, "-m", "simulate"]


def leftovers(folder: Path) -> list[str]:
    """Hidden files (temporaries) in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- 1. files the user names: type and size checked before reading, nesting bounded, a BOM accepted -----
def _refused_at_once(args, match, cwd):
    """Run the command line in a subprocess (a blocking read would hang it): one line, exit 2, quickly."""
    start = time.monotonic()
    done = subprocess.run([*SIMULATE, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    return time.monotonic() - start


@pytest.mark.parametrize("command", ["config", "rerun"])
def test_devices_fifos_folders_and_huge_files_are_refused_before_reading(tmp_path, command):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as fh:
        fh.truncate(10**12)  # sparse: a terabyte that takes no disk
    cases = [("/dev/zero", "a character device"), (str(fifo), "a FIFO"), (str(tmp_path), "a folder"),
             (str(huge), f"the limit is {MAX_CONFIG_BYTES} bytes")]
    for path, reason in cases:
        args = ["plot", "--config", path] if command == "config" else ["rerun", path]
        assert _refused_at_once(args, reason, tmp_path) < 30
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".png", ".npz")]


def test_deep_nesting_is_refused_in_one_line_not_by_recursion(in_tmp, capsys):
    depth = 5000
    (in_tmp / "deep.toml").write_text("steps = 3\n# [[[[ in a comment\nstart = " + "[" * depth + "]" * depth + "\n")
    code, _, err = cli(capsys, "plot", "--config", "deep.toml")
    assert code == 2
    assert err.strip() == (f"error: deep.toml:3: values nest {depth} levels deep; "
                           f"at most {MAX_CONFIG_DEPTH} are read")
    (in_tmp / "shallow.toml").write_text('caption = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["\nstart = [[1, 2]]\n')
    assert cli(capsys, "plot", "--config", "shallow.toml", "--dump-config")[0] == 0  # brackets in a string do not count


def test_a_utf8_byte_order_mark_is_accepted(in_tmp, capsys):
    (in_tmp / "bom.toml").write_bytes("\ufeffsteps = 7\n".encode("utf-8"))
    code, out, err = cli(capsys, "plot", "--config", "bom.toml", "--dump-config")
    assert code == 0, err
    assert "steps = 7\n" in out
    assert cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png", "--data", "r.npz")[0] == 0
    record = (in_tmp / "r.run.toml").read_bytes()
    (in_tmp / "r.run.toml").write_bytes(b"\xef\xbb\xbf" + record)
    code, out, err = cli(capsys, "rerun", "r.run.toml", "--out-dir", "again")
    assert code == 0, err
    assert (in_tmp / "again/r.npz").read_bytes() == (in_tmp / "r.npz").read_bytes()


# -- 2. signals that end a run: no temporary, no partial output, one line, 128 + the signal --------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("when", ["computing", "writing"])
def test_a_signal_leaves_nothing_and_says_so(tmp_path, signum, when):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.png").write_bytes(b"kept")
    args = ["plot", "-l", "booth", "--steps", "3000", "--out", "a.png", "--data", "a.npz", "--animate", "a.gif"]
    child = subprocess.Popen([*SIMULATE, *args], cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    if when == "writing":  # as soon as a temporary exists: the outputs are half-written
        while not leftovers(out) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert leftovers(out), "the run ended before writing"
    else:
        time.sleep(1.5)  # imported, computing
    assert child.poll() is None
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert err.strip().splitlines()[-1] == (f"interrupted by {name}: stopped; no partial output or "
                                            "temporary file was left")
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["earlier.png"]
    assert (out / "earlier.png").read_bytes() == b"kept"


# -- 3. outputs are claimed, not assumed: a second writer is refused, symlinks kept, stale temporaries gone
def test_a_file_that_appears_while_writing_is_kept_and_the_write_refused(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "a.npz"

    def write(tmp):
        Path(tmp).write_bytes(b"ours")

    def racing(tmp):  # another run puts its a.npz in place while ours is being written
        Path(tmp).write_bytes(b"ours")
        second.write_bytes(b"theirs")

    with pytest.raises(FileExistsError, match="a.npz' exists .*pass --overwrite"):
        write_together([(first, write), (second, racing)], overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # ours taken back, theirs kept
    assert second.read_bytes() == b"theirs"
    write_together([(first, write), (second, write)], overwrite=True)
    assert first.read_bytes() == second.read_bytes() == b"ours"


def test_without_hard_links_the_placement_is_still_exclusive(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # as on FAT or some network file systems

    monkeypatch.setattr(os, "link", no_links)
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"theirs")
    with pytest.raises(FileExistsError, match="taken.png' exists"):
        write_together([(taken, lambda tmp: Path(tmp).write_bytes(b"ours"))], overwrite=False)
    assert taken.read_bytes() == b"theirs"
    assert write_together([(tmp_path / "new.png", lambda tmp: Path(tmp).write_bytes(b"ours"))], overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.png", "taken.png"]
    assert (tmp_path / "new.png").read_bytes() == b"ours"


def test_two_runs_writing_the_same_outputs_one_is_refused(tmp_path):
    args = [*SIMULATE, "plot", "-l", "booth", "--steps", "300", "--out", "same.png", "--data", "same.npz"]
    children = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    results = [(c.wait(timeout=120), c.stderr.read()) for c in children]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = [err for code, err in results if code == 2][0]
    assert "exists" in refused and "--overwrite" in refused and len(refused.strip().splitlines()) == 1
    assert leftovers(tmp_path) == []


def test_a_dangling_symlink_at_an_output_is_not_replaced_without_overwrite(in_tmp, capsys):
    os.symlink("nowhere.png", "r.png")
    code, _, err = cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png")
    assert code == 2 and "'r.png' exists; pass --overwrite" in err
    assert os.readlink("r.png") == "nowhere.png" and not (in_tmp / "nowhere.png").exists()
    assert cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png", "--overwrite")[0] == 0
    assert not (in_tmp / "r.png").is_symlink() and not (in_tmp / "nowhere.png").exists()


def test_temporaries_of_a_killed_run_are_removed_by_the_next_write(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    args = [*SIMULATE, "plot", "-l", "booth", "--steps", "3000", "--out", "a.png", "--animate", "a.gif"]
    child = subprocess.Popen(args, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not leftovers(out) and time.monotonic() < deadline:
        time.sleep(0.01)
    child.kill()  # SIGKILL: no cleanup can run
    child.wait(timeout=30)
    stale = leftovers(out)
    assert stale and all(f".simulate-{child.pid}-" in name for name in stale)
    mine = out / f".mine.simulate-{os.getpid()}-abcd1234.png"  # a live run's temporary is left alone
    mine.write_bytes(b"")
    sim.run("plot", {"landscape": "booth", "steps": 2, "out": str(out / "b.png")})
    assert leftovers(out) == [mine.name]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["b.png", "b.run.toml"]


def test_a_refused_rerun_leaves_no_out_dir(in_tmp, capsys):
    assert cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "r.png")[0] == 0
    text = (in_tmp / "r.run.toml").read_text()
    (in_tmp / "bad.run.toml").write_text(text.replace("random_starts = 0", "random_starts = 3")
                                         .replace("start = []", "start = [[1.0, 2.0]]"))
    code, _, err = cli(capsys, "rerun", "bad.run.toml", "--out-dir", "new/deeper")
    assert code == 2 and "give either start points or random_starts, not both" in err
    assert not (in_tmp / "new").exists()
    (in_tmp / "kept").mkdir()
    code, _, err = cli(capsys, "rerun", "bad.run.toml", "--out-dir", "kept/deeper")
    assert code == 2 and (in_tmp / "kept").is_dir() and not (in_tmp / "kept/deeper").exists()


# -- 4. a run record writes only inside its folder (or --out-dir) ---------------------------------------
@pytest.mark.parametrize("where", ["absolute", "climbing", "symlink"])
def test_a_record_cannot_write_outside_its_folder(in_tmp, capsys, where):
    (in_tmp / "theirs").mkdir()
    (in_tmp / "mine").mkdir()
    (in_tmp / "mine/victim.png").write_bytes(b"mine")
    os.symlink(in_tmp / "mine", in_tmp / "theirs/link")
    assert cli(capsys, "plot", "-l", "booth", "--steps", "2", "--out", "theirs/r.png")[0] == 0
    target = {"absolute": str(in_tmp / "mine/victim.png"), "climbing": "../mine/victim.png",
              "symlink": "link/victim.png"}[where]
    record = in_tmp / "theirs/r.run.toml"
    record.write_text(record.read_text().replace('out = "r.png"', f'out = "{target}"'))
    for args in (["rerun", str(record), "--overwrite"], ["rerun", str(record)],
                 ["plot", "--config", str(record), "--overwrite"]):
        code, out, err = cli(capsys, *args)
        assert code == 2 and out == ""
        assert f"out: the output '{target}' is outside the record's folder" in err, err
        assert "--out-dir" in err and len(err.strip().splitlines()) == 1
    assert (in_tmp / "mine/victim.png").read_bytes() == b"mine"
    assert sorted(p.name for p in (in_tmp / "mine").iterdir()) == ["victim.png"]
    code, out, err = cli(capsys, "rerun", str(record), "--out-dir", "safe")  # by name, into the folder given
    assert code == 0, err
    assert sorted(p.name for p in (in_tmp / "safe").iterdir()) == ["victim.png", "victim.run.toml"]
    assert (in_tmp / "mine/victim.png").read_bytes() == b"mine"


# -- 5. a run that would not fit in memory is refused up front, with the estimate and the way out -------
_UNDER_A_LIMIT = """
import resource, sys
from simulate.cli.app import main
main(["plot", "-l", "booth", "--steps", "20", "--out", "warm.png"])  # every module the run needs is loaded
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + 768 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_that_would_not_fit_under_a_memory_limit_is_refused_not_killed(tmp_path):
    def under_limit(*args):
        return subprocess.run([sys.executable, "-c", _UNDER_A_LIMIT, *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    # 60 starts are drawn in full (more would be a crowd, a sample of them drawn over a density)
    done = under_limit("plot", "-l", "booth", "--random-starts", "60", "--steps", "30000", "--out", "big.png")
    assert done.returncode == 2, done.stderr
    line, = done.stderr.strip().splitlines()
    assert line.startswith("error: this run would record about 1.61 GiB (6 records, the largest gd's flow "
                           "(30001 x 60 x 2)) and 0.7")
    assert line.endswith("GiB of memory are available: use fewer --steps or fewer starts")
    assert not (tmp_path / "big.png").exists()
    done = under_limit("plot", "-l", "booth", "--random-starts", "20", "--steps", "300", "--out", "small.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "small.png").exists()


def test_a_sweep_counts_every_optimizer_and_cell_before_it_starts(in_tmp, capsys):
    code, _, err = cli(capsys, "sweep", "-o", "gd", "-o", "momentum", "-v", "lr=0.001:0.1:2000", "-v", "x=-2:2:1000",
                       "--steps", "1000", "--record-every", "2", "--data", "s.npz")
    assert code == 2
    assert err.startswith("error: this run would record about 239 GiB (2 records, the largest gd's iterates "
                          "(502 x 2000000 x 2))")
    assert "use fewer --steps, a larger --record-every or a coarser grid" in err  # or a cluster's store:
    assert err.strip().endswith("which writes the grid to disk as its chunks run")
    assert sorted(p.name for p in in_tmp.iterdir()) == []


def test_an_interrupt_that_something_swallowed_still_places_nothing(tmp_path, monkeypatch, capsys):
    # An exception raised by a signal handler while a destructor runs is only printed: the run goes
    # on. The signal is noted all the same, and placing outputs checks the note.
    import signal as signals

    import simulate.analysis.experiment as experiment
    from simulate.cli.app import main
    from simulate.io.files import SIGNALLED, Stopped, write_together

    SIGNALLED.append(signals.SIGTERM)
    try:
        with pytest.raises(Stopped):
            write_together([(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("a"))])
    finally:
        SIGNALLED.clear()
    assert list(tmp_path.iterdir()) == []
    real_run = experiment.run_experiment

    def swallowed(*args, **kwargs):
        SIGNALLED.append(signals.SIGTERM)  # as _interrupt does, its exception then lost
        return real_run(*args, **kwargs)

    monkeypatch.setattr(experiment, "run_experiment", swallowed)
    monkeypatch.setattr("simulate.viz.figures.run_experiment", swallowed)
    code = main(["plot", "-l", "booth", "--steps", "3", "--out", str(tmp_path / "p.png")])
    assert code == 128 + signals.SIGTERM and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err.strip().endswith("interrupted by SIGTERM: stopped; no partial output or temporary "
                                                    "file was left")


def test_a_signal_during_the_writability_probe_leaves_no_probe(tmp_path, monkeypatch):
    # CI: a SIGTERM that arrived while the folder was probed left '.simulate-probe-…' behind
    from simulate.io import files

    real_close = os.close

    def interrupted(fd):  # the probe exists: the signal's KeyboardInterrupt arrives now
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.check_output_path(tmp_path / "figure.png")
    monkeypatch.setattr(files.os, "close", real_close)
    assert list(tmp_path.iterdir()) == [] and not files._LIVE
