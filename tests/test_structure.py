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


# -- no consumer asks "which optimizer is this?" ---------------------------------------------------------
TYPE_TESTS = {"isinstance", "issubclass"}


def _class_names(node: ast.AST) -> list[str]:
    """The class names a type test's second argument (or ``type(x) is C``'s right side) mentions."""
    if isinstance(node, ast.Tuple):
        return [n for element in node.elts for n in _class_names(element)]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return []


def _strings(node: ast.AST) -> list[str]:
    """The string constants a comparison's operand holds (itself, or a tuple/list/set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for element in node.elts for s in _strings(element)]
    return []


def optimizer_tests(tree: ast.Module, classes: set[str], names: set[str]) -> list[tuple[int, str]]:
    """``(line, what)`` for every test of a concrete optimizer class (``isinstance``/``issubclass``,
    ``type(x) is C``) among ``classes`` and every comparison with a registered name among ``names``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in TYPE_TESTS \
                and len(node.args) == 2:
            found += [(node.lineno, f"{node.func.id}(..., {c})") for c in _class_names(node.args[1]) if c in classes]
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            typed = any(isinstance(o, ast.Call) and isinstance(o.func, ast.Name) and o.func.id == "type"
                        for o in operands)
            for operand in operands:
                if typed:
                    found += [(node.lineno, f"type(...) against {c}") for c in _class_names(operand) if c in classes]
                found += [(node.lineno, f"compares with the optimizer name {s!r}") for s in _strings(operand)
                          if s in names]
    return found


def _optimizers_and_homes() -> tuple[dict[str, str], dict[str, str]]:
    """Concrete optimizer classes -> the module that defines them; registered names -> their class's
    module (less the names that are also hyperparameters: comparing an axis with "momentum" asks
    which hyperparameter, not which optimizer)."""
    import dataclasses

    from simulate.optimizers import OPTIMIZERS, Optimizer

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    classes = {c.__name__: c.__module__ for c in subclasses(Optimizer) if c.__module__.startswith(PACKAGE + ".")}
    fields = {f.name for c in subclasses(Optimizer) if dataclasses.is_dataclass(c) for f in dataclasses.fields(c)}
    names = {name: preset.cls.__module__ for name, preset in OPTIMIZERS.items()
             if preset.cls.__module__.startswith(PACKAGE + ".") and name not in fields}
    return classes, names


def test_the_checker_finds_type_and_name_tests():
    tree = ast.parse("def f(opt, other):\n"
                     "    if isinstance(opt, (Base, SGD)) or type(other) is mod.Adam:\n"
                     "        return opt.name == 'gd' or other.name in ('x', 'adam')\n"
                     "    return isinstance(opt, Base) and opt.name != 'plain'\n")
    assert optimizer_tests(tree, {"SGD", "Adam"}, {"gd", "adam"}) == [
        (2, "isinstance(..., SGD)"), (2, "type(...) against Adam"),
        (3, "compares with the optimizer name 'gd'"), (3, "compares with the optimizer name 'adam'")]


def test_no_module_tests_for_a_concrete_optimizer_outside_its_own():
    """Everything about an optimizer is asked of it through its protocol: outside the module that
    defines it, no ``isinstance``/``type`` test against its class and no comparison with its name."""
    classes, names = _optimizers_and_homes()
    assert {"SGD", "Adam", "RMSprop", "NagC", "Consensus"} <= set(classes) and {"gd", "adam", "nag-c"} <= set(names)
    offences = []
    for module, (path, tree) in parsed_modules().items():
        foreign_classes = {c for c, home in classes.items() if home != module}
        foreign_names = {n for n, home in names.items() if home != module}
        offences += [f"{module}:{line}: {what}" for line, what in optimizer_tests(tree, foreign_classes, foreign_names)]
    assert not offences, "tests of concrete optimizers outside their own module:\n" + "\n".join(offences)
