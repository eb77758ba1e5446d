"""The package's shape, read from its syntax trees (nothing is imported): arrows between modules run one
way, and the lower layers never reach the figures or the command line.

:func:`parsed_modules` parses every module of a package once; each structural test walks those trees.
An import inside a function counts like one at the top: it runs as soon as that function is called.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import simulate

PACKAGE = "simulate"
ROOT = Path(simulate.__file__).parent
#: Subpackages below the drawing and the command line: they compute, and never import either.
LOWER_LAYERS = ("analysis", "solvers", "models", "optimizers", "landscapes")
UPPER_LAYERS = ("viz", "cli")


def module_name(path: Path, root: Path, package: str) -> str:
    """``simulate/viz/figures.py`` -> ``simulate.viz.figures``; a package's ``__init__.py`` -> the package."""
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def parsed_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, tuple[Path, ast.Module]]:
    """Every module of ``package`` (rooted at ``root``): its name -> (file, syntax tree)."""
    return {module_name(p, root, package): (p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
            for p in sorted(root.rglob("*.py"))}


def _ancestors(module: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages whose ``__init__`` runs before ``a.b.c`` does."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules) -> set[str]:
    """The modules of the package that running ``node`` inside ``importer`` may execute."""
    if isinstance(node, ast.Import):
        bases, names = [a.name for a in node.names], []
    else:
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        bases, names = [base], [a.name for a in node.names]
    targets = set()
    for base in bases:
        targets.update(m for m in (*_ancestors(base), base) if m in modules)
        # ``from p import x``: x is the submodule p.x when there is one, else a name defined by p's __init__
        targets.update(f"{base}.{n}" for n in names if f"{base}.{n}" in modules)
    # the importer's own packages have run before it did: importing from them executes nothing new
    return targets - {importer, *_ancestors(importer)}


@functools.cache
def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {imported module: the line of the first import that runs it}, imports in functions included."""
    modules = parsed_modules(root, package)
    graph = {}
    for name, (path, tree) in modules.items():
        edges = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(node, name, path.name == "__init__.py", modules):
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_path(graph, min(c), min(c), c) for c in components]


def _path(graph, start: str, goal: str, within=None) -> list[str] | None:
    """The shortest chain of imports from ``start`` to ``goal`` (back to ``start`` when they are equal)."""
    parents, frontier = {}, [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if within is not None and w not in within or w in parents:
                    continue
                parents[w] = v
                if w == goal:
                    chain = [w]
                    while chain[-1] != start or len(chain) == 1:
                        chain.append(parents[chain[-1]])
                    return chain[::-1]
                following.append(w)
        frontier = following
    return None


def describe(chain: list[str], graph) -> str:
    """``a -> b (a.py:12) -> ...``: each arrow with the line of ``a`` that imports ``b``."""
    return chain[0] + "".join(f" -> {b} (line {graph[a][b]} of {a})" for a, b in zip(chain, chain[1:]))


def test_the_walker_sees_imports_in_functions_relative_imports_and_package_inits(tmp_path):
    """On a made-up package: the walker finds a cycle through an import inside a function and one through a
    package's ``__init__``, and none where ``from . import x`` names a submodule."""
    files = {
        "__init__.py": "from .a import f\n",
        "a.py": "def f():\n    from .b import g\n    return g()\n",
        "b.py": "import pkg.a\ndef g():\n    return 1\n",
        "sub/__init__.py": "from ..c import h\n",
        "sub/leaf.py": "from . import other\nX = 1\n",
        "sub/other.py": "Y = 2\n",
        "c.py": "from pkg.sub.leaf import X\ndef h():\n    return X\n",
        "d.py": "from .sub import leaf\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b": 2}
    assert graph["pkg.b"] == {"pkg.a": 1}
    assert graph["pkg.c"] == {"pkg.sub": 1, "pkg.sub.leaf": 1}  # importing pkg.sub.leaf runs pkg/sub/__init__
    assert graph["pkg.sub.leaf"] == {"pkg.sub.other": 1}      # its own package has already run
    assert graph["pkg.d"] == {"pkg.sub": 1, "pkg.sub.leaf": 1}
    assert sorted(cycles(graph)) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.sub", "pkg.c"]]
    assert describe(["pkg.a", "pkg.b", "pkg.a"], graph) == \
        "pkg.a -> pkg.b (line 2 of pkg.a) -> pkg.a (line 1 of pkg.b)"


def test_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100  # the walker read the package
    found = cycles(graph)
    assert not found, "import cycles (imports inside functions count):\n" + "\n".join(
        describe(c, graph) for c in found)


def test_the_lower_layers_import_neither_the_figures_nor_the_command_line():
    """analysis, solvers, models, optimizers and landscapes reach viz and cli by no chain of imports."""
    graph = import_graph()
    lower = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in LOWER_LAYERS]
    upper = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in UPPER_LAYERS]
    assert len(lower) > 20 and len(upper) > 5
    chains = ([c for target in upper if (c := _path(graph, m, target))] for m in lower)
    reached = [min(found, key=len) for found in chains if found]  # the shortest chain from each module
    assert not reached, "a lower layer imports viz or cli:\n" + "\n".join(describe(c, graph) for c in reached)
