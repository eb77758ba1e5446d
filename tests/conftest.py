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
