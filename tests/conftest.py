import importlib.util

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than 10 s (deselect with -m 'not slow')")


@pytest.fixture(scope="session")
def demo_written(tmp_path_factory):
    """``demo_written(name)``: the paths a demo writes (figure, data, record), each demo rendered
    once per test process whichever test module asks first (test_demos renders them all; a
    family's tests check their own demo's caption on the same data)."""
    from simulate.cli.demos import demo

    folder = tmp_path_factory.mktemp("demos")
    cache = {}

    def written(name):
        if name not in cache:
            cache[name] = demo(name, folder / f"{name}.png", data=folder / f"{name}.npz", dpi=30)
        return cache[name]

    return written


#: Modules whose tests share one costly fixture (the docs site, a Jupyter kernel, every demo rendered):
#: under ``-n`` each runs whole on one worker, which builds it once while the others go on. With
#: plain load scheduling every worker built it, or waited for it (pytest-xdist's loadgroup marks
#: do not group under pytest 9.2: the node id it suffixes is no longer the one reported).
SHARED_FIXTURE_MODULES = ("tests/test_docs.py", "tests/test_notebooks.py", "tests/test_demos.py")

if importlib.util.find_spec("xdist") is not None:  # the test extra has it; a plain pytest run needs no hook
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        class SharedFixturesTogether(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0]
                return module if module in SHARED_FIXTURE_MODULES else nodeid  # else each test alone, as load

        return SharedFixturesTogether(config, log) if config.getoption("dist") == "load" else None
