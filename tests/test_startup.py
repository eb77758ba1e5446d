"""``import simulate`` is lean (its public names load on first use), and every public name resolves.

Each check runs in a fresh interpreter: the test session itself has long imported everything.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "matplotlib", "scipy", "numba", "sympy", "torch")


def fresh(code: str):
    """Run ``code`` in a new interpreter and return the JSON it prints."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_simulate_loads_no_heavy_library_and_no_submodule():
    loaded = fresh("import json, sys, simulate; print(json.dumps(sorted(sys.modules)))")
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    assert [m for m in loaded if m.split(".")[0] == "simulate"] == ["simulate", "simulate._version"]


def test_every_public_name_resolves_and_sweep_is_the_function_like_order():
    resolved = fresh("""
import json, simulate
names = {n: type(getattr(simulate, n)).__name__ for n in simulate.__all__}
import simulate.analysis.sweep as module
print(json.dumps({"names": names, "dir": sorted(set(simulate.__all__) - set(dir(simulate))),
                  "sweep": simulate.sweep is module.sweep, "order": callable(simulate.order),
                  "module": type(module).__name__}))
""")
    assert len(resolved["names"]) > 50
    assert {"sweep", "order", "plot", "optimizer", "landscape", "__version__"} <= set(resolved["names"])
    assert resolved["names"]["sweep"] == resolved["names"]["order"] == "function"
    assert resolved["dir"] == []
    assert resolved["sweep"] and resolved["order"] and resolved["module"] == "module"


def test_star_import_and_subpackages_and_unknown_names():
    got = fresh("""
import json, simulate
namespace = {}
exec("from simulate import *", namespace)
print(json.dumps({"missing": [n for n in simulate.__all__ if n not in namespace],
                  "viz": simulate.viz.__name__}))
""")
    assert got == {"missing": [], "viz": "simulate.viz"}
    import simulate
    with pytest.raises(AttributeError, match="has no attribute 'sweeep'"):
        simulate.sweeep  # noqa: B018
