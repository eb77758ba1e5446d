"""Sphinx configuration of simulate's documentation site.

Build:  pip install ".[docs]" && python -m sphinx -W docs docs/_build/html

Three parts of the site are generated here at every build, so that each has one home:

* the gallery's example scripts (``_generated/demos/plot_NAME.py``) from
  ``simulate.cli.demos.DEMOS``: title, caption and options come from the demo itself, and
  sphinx-gallery runs each script (the demo's own command) and shows its figure;
* the command-line reference (``cli/``) from the typer app's click commands;
* the API reference (``api/``): one page per subpackage, an ``automodule`` per public module.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import sys
import textwrap
from pathlib import Path

import simulate

HERE = Path(__file__).parent
GENERATED = HERE / "_generated"

project = "simulate"
author = "the simulate developers"
copyright = "the simulate developers, MIT licence"
release = version = simulate.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "**/GALLERY_HEADER.rst", "**/*.ipynb", "**/*.codeobj.json",
                    "**/*.zip", "**/sg_execution_times.rst"]
root_doc = "index"

html_theme = "furo"
html_title = f"simulate {release}"
html_static_path = ["_static"]
html_css_files = ["simulate.css"]
html_show_sourcelink = False
smartquotes = False  # text as the terminal prints it (captions, help): straight quotes

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # theory: $$…$$ displays inside list items and paragraphs

# MathJax: the CDN for readers; a local copy (e.g. Debian's libjs-mathjax) where there is no network,
# as for the screenshots (docs/screenshots.py sets it).
if os.environ.get("SIMULATE_DOCS_MATHJAX"):
    mathjax_path = os.environ["SIMULATE_DOCS_MATHJAX"]
    if "MathJax.js" in mathjax_path:  # MathJax 2 (Debian's): MyST marks the formulas with class "math"
        mathjax2_config = {"tex2jax": {"processClass": "math", "ignoreClass": "tex2jax_ignore|mathjax_ignore"}}
        myst_update_mathjax = False

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_inherit_docstrings = False  # an optimizer's step is its own; Optimizer.step's text would repeat

# The matplotlib plot directive (tutorials): code run at build time, its figures shown, no source links.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 80)]
plot_rcparams = {"figure.figsize": (8, 3.8), "savefig.bbox": "tight"}

# ---------------------------------------------------------------------------------------------------
# The gallery: one example script per demo, written from DEMOS (the captions' one home).

sys.path.insert(0, str(HERE / "_ext"))
from simulate_docs import rst_text, write_demo_examples  # noqa: E402

write_demo_examples(GENERATED / "demos")

sphinx_gallery_conf = {
    "examples_dirs": str(GENERATED / "demos"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"plot_",
    "image_scrapers": ("simulate_docs.demo_figure_scraper",),
    "download_all_examples": False,
    "show_signature": False,
    "remove_config_comments": True,
    "min_reported_time": 1e9,  # no timing lines on the pages (they differ at every build)
    "write_computation_times": False,
    "within_subsection_order": "simulate_docs.DemoOrder",
    "parallel": int(os.environ.get("SIMULATE_DOCS_JOBS", "2")),  # the demos run in these many processes
}

# ---------------------------------------------------------------------------------------------------
# The command-line reference, from the click command typer builds.


def _click_command():
    import typer

    from simulate.cli.app import app

    return typer.main.get_command(app)


def _option_rows(command, name: str) -> list[str]:
    """One row per option: its names and value, and its help with its default, as --help prints them."""
    ctx = command.context_class(command, info_name=name)
    rows = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        names, text = record
        rows += [f"* - ``{names}``", f"  - {rst_text(' '.join(text.split()))}"]
    return rows


def write_cli_reference(folder: Path) -> list[Path]:
    """``cli/index.rst`` and one page per command: usage, help, options, from the click objects."""
    root = _click_command()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names = list(root.commands)  # in --help order
    index = ["Command-line reference", "======================", "",
             "Generated from the commands themselves at every build; ``simulate --help`` and "
             "``simulate COMMAND --help`` print the same on the terminal.", "",
             ".. code-block:: text", "", *(f"   {line}" for line in _usage(root, "simulate").splitlines()), "",
             ".. toctree::", "   :maxdepth: 1", "", *(f"   {n}" for n in names), ""]
    written = [folder / "index.rst"]
    written[0].write_text("\n".join(index))
    ctx = root.context_class(root, info_name="simulate")
    for name in names:
        _, command, _ = root.resolve_command(ctx, [name])  # commands are built lazily, on first use
        title = f"simulate {name}"
        helptext = rst_text(textwrap.dedent(command.help or "").strip())
        lines = [title, "=" * len(title), "", ".. code-block:: text", "",
                 f"   {_usage_line(command, title)}", "", helptext, ""]
        rows = _option_rows(command, name)
        if rows:
            lines += [".. list-table::", "   :header-rows: 1", "   :widths: 35 65", "",
                      "   * - option", "     - meaning",
                      *(f"   {r}" for r in rows), ""]
        path = folder / f"{name}.rst"
        path.write_text("\n".join(lines))
        written.append(path)
    return written


def _usage_line(command, prog: str) -> str:
    ctx = command.context_class(command, info_name=prog)  # typer vendors click: its own Context
    return " ".join([prog, *command.collect_usage_pieces(ctx)])


def _usage(root, prog: str) -> str:
    lines = [_usage_line(root, prog), ""]
    width = max(len(n) for n in root.commands)
    for name in root.commands:
        short = root.commands[name].get_short_help_str(limit=90)
        lines.append(f"  {name:<{width}}  {short}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The API reference: every public module of the package, found by walking it.

API_SECTIONS = {
    "simulate": "The package: the functions and registries most work starts from.",
    "simulate.landscapes": "The functions f: value, gradient and Hessian on points (..., d).",
    "simulate.optimizers": "One module per family: hyperparameters, discrete update, exact lift, models.",
    "simulate.models": "Continuous models: the Flow protocol and the models several families share.",
    "simulate.solvers": "How runs are made: the discrete loop, the compiled engine, solve_ivp, SDEs.",
    "simulate.analysis": "What is computed from runs: experiments, sweeps, orders, rate maps, tuning.",
    "simulate.viz": "Drawing: axes-level plots, figures, heat maps, animations, the explorer.",
    "simulate.io": "Files: atomic writes, configuration, run records, progress.",
    "simulate.cli": "The command line: options, runs and records, the classroom demos.",
}


def public_names() -> list[str]:
    """A table of what ``import simulate as sim`` gives: each ``sim.NAME`` linked to where it is documented."""
    rows = []
    for module, names in simulate._HOMES.items():
        for name in names:
            value = getattr(simulate, name)
            home = getattr(value, "__module__", None) if callable(value) else None
            target = f"{home}.{name}" if home and home.startswith("simulate") else f"simulate.{module}.{name}"
            rows.append(f"   * - :py:obj:`sim.{name} <{target}>`\n     - ``{target}``")
    return ["**What** ``import simulate as sim`` **gives**, each name linked to where it is documented:", "",
            ".. list-table::", "   :header-rows: 1", "", "   * - name", "     - defined in", *rows, ""]


def write_api_reference(folder: Path) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    index = ["API reference", "=============", "",
             "Generated from the docstrings. Objects are documented in the module that defines them; "
             "``import simulate as sim`` re-exports the common ones (``sim.iterate`` is "
             ":func:`simulate.solvers.discrete.iterate`).", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    written = []
    for package, blurb in API_SECTIONS.items():
        index.append(f"   {package}")
        pkg = __import__(package, fromlist=["__path__"])
        if package == "simulate":
            modules = [m.name for m in pkgutil.iter_modules(simulate.__path__, "simulate.")
                       if not m.ispkg and not m.name.rsplit(".", 1)[1].startswith("_")]
        else:
            modules = [m.name for m in pkgutil.iter_modules(pkg.__path__, package + ".")
                       if not m.name.rsplit(".", 1)[1].startswith("_")]
        own = [n for n in getattr(pkg, "__all__", [])
               if getattr(getattr(pkg, n), "__module__", None) == package and callable(getattr(pkg, n))]
        # the package's own functions and classes; what it re-exports is documented at its home
        lines = [f"``{package}``", "=" * (len(package) + 4), "", blurb, "",
                 f".. automodule:: {package}", "   :no-members:", "",
                 *(public_names() if package == "simulate" else []),
                 *(f".. auto{'class' if isinstance(getattr(pkg, n), type) else 'function'}:: {package}.{n}\n"
                   for n in own)]
        for module in sorted(modules):
            lines += [f"``{module}``", "-" * (len(module) + 4), "", f".. automodule:: {module}", ""]
        path = folder / f"{package}.rst"
        path.write_text("\n".join(lines))
        written.append(path)
    (folder / "index.rst").write_text("\n".join(index) + "\n")
    return written


write_cli_reference(HERE / "cli")
write_api_reference(HERE / "api")


def setup(app):
    from simulate_docs import plain_text_math

    app.connect("autodoc-process-docstring", plain_text_math)
