import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# A large auto run that takes the numpy loop compiles its loop in a background process for the
# next run (simulate.solvers.warmup): not in the tests, whose processes would outlive them. Tests
# of the background compile set it themselves.
os.environ.setdefault("SIMULATE_BACKGROUND_COMPILE", "0")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than 10 s (deselect with -m 'not slow')")


def shared_folder(factory) -> Path:
    """A folder every process of this test session shares: the session's base folder, whose
    ``popen-gwN`` subfolders are the xdist workers' own (without xdist: the session's own folder,
    never the parent of earlier sessions)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


# -- the order of the tests -------------------------------------------------------------------------
def _needs_docs_site(item) -> bool:
    return "site" in getattr(item, "fixturenames", ()) and item.path.name == "test_docs.py"


def pytest_collection_modifyitems(config, items):
    """The tests of the docs site last, so that its build (begun in the background when the
    collection is done) is ready when they run instead of a worker waiting for it. Every xdist
    worker collects and sorts alike (a stable sort of the same list), as xdist requires."""
    items.sort(key=_needs_docs_site)


def pytest_collection_finish(session):
    if not session.config.option.collectonly and any(_needs_docs_site(item) for item in session.items):
        start_docs_build(shared_folder(session.config._tmp_path_factory))


# -- the documentation site, built once per session in the background ------------------------------
DOCS_GENERATED = ("_build", "_generated", "gallery", "api", "cli")  # made by docs/conf.py at every build
_builds = []  # (thread, process holder) of the build this process started


def start_docs_build(shared: Path) -> None:
    """Build the docs site into ``shared/docs-site`` in a thread of this process, unless some
    process of the session has begun it (the first to create ``docs-site.started`` builds)."""
    try:
        os.close(os.open(shared / "docs-site.started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    holder = {}
    thread = threading.Thread(target=_build_docs, args=(shared, holder), daemon=True, name="docs-build")
    thread.start()
    _builds.append((thread, holder))


def _build_docs(shared: Path, holder: dict) -> None:
    source, log = shared / "docs-source", shared / "docs-site.out"
    start = time.perf_counter()
    try:
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(ROOT / "docs", source, ignore=lambda folder, names: [n for n in names if n in DOCS_GENERATED]
                        if Path(folder) == ROOT / "docs" else [])
        env = {**os.environ, "MPLBACKEND": "Agg"}
        with open(log, "w") as out:
            proc = holder["process"] = subprocess.Popen(
                [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
                 str(shared / "docs-doctrees"), str(source), str(shared / "docs-site")],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                code = proc.wait(timeout=1500)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "timeout"
        text = log.read_text(errors="replace")
    except Exception as exc:  # reported by the tests that wait for the site
        code, text = "error", f"the build could not run: {exc!r}"
    done = shared / "docs-site.done"
    (shared / "docs-site.done.tmp").write_text(f"{code}\n{time.perf_counter() - start:.1f}\n{text}")
    os.replace(shared / "docs-site.done.tmp", done)  # whole or absent for the processes waiting


def docs_build_result(shared: Path, timeout: float = 1800) -> tuple[str, float, str]:
    """Wait for the session's docs build (beginning it if no process has) and return its exit
    code (``"0"`` when it succeeded), its seconds and its output."""
    start_docs_build(shared)
    done = shared / "docs-site.done"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the docs build did not finish in {timeout:.0f} s")
        time.sleep(0.2)
    code, seconds, log = done.read_text().split("\n", 2)
    return code, float(seconds), log


def pytest_sessionfinish(session):
    for thread, holder in _builds:  # a run stopped early (-x, ^C): no build left running
        process = holder.get("process")
        if process is not None and process.poll() is None:
            process.kill()
        thread.join(timeout=10)


# -- the demos, each rendered once per session ------------------------------------------------------
@pytest.fixture(scope="session")
def demo_written(tmp_path_factory):
    """``demo_written(name)``: the paths a demo writes (figure, data, record), each demo rendered
    once per session whichever process and test module asks first (the xdist workers share the
    renders through a folder, one lock per demo: a worker waits only for a demo the other is
    rendering). test_demos checks every demo; a family's tests check their own demo's caption on
    the same data."""
    from filelock import FileLock

    from simulate.cli.demos import demo

    folder = shared_folder(tmp_path_factory) / "demos"
    folder.mkdir(exist_ok=True)
    cache = {}

    def written(name):
        if name not in cache:
            manifest = folder / f"{name}.written.json"
            with FileLock(str(folder / f"{name}.lock")):
                if not manifest.exists():
                    paths = demo(name, folder / f"{name}.png", data=folder / f"{name}.npz", dpi=30)
                    manifest.write_text(json.dumps([str(p) for p in paths]))
            cache[name] = [Path(p) for p in json.loads(manifest.read_text())]
        return cache[name]

    return written
