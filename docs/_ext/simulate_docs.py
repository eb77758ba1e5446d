"""Helpers of docs/conf.py that must be importable by name: sphinx-gallery runs the demos in worker
processes and refers to the image scraper by its dotted name (a function in the configuration would
make it uncacheable)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path


def rst_text(text: str) -> str:
    """Plain text as reStructuredText that shows it verbatim: |x|, x*, ``a_`` and backquotes escaped."""
    for char in "\\|*`_":
        text = text.replace(char, "\\" + char)
    return text


#: The site's demo figures: a little finer than the committed gallery's 70 dpi (GALLERY_DPI), whose
#: labels are hard to read at the page's width; drawing costs little beside the demos' computation.
SITE_DPI = 90


def write_demo_examples(folder: Path) -> list[Path]:
    """``plot_NAME.py`` for every demo in ``DEMOS``: its summary as the title, its caption as the
    text, the demo's own command as the code (run by sphinx-gallery)."""
    from simulate.cli.demos import DEMOS

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "GALLERY_HEADER.rst").write_text(
        "Gallery\n=======\n\n"
        "Every classroom demo of ``simulate demo --list``, rendered while this site was built. Each page "
        "shows the figure, the caption the command prints under it, and the code that made it; "
        "``simulate demo NAME`` makes the same figure from the shell, and ``simulate gallery`` all of them.\n")
    written = []
    for d in DEMOS.values():
        # The title is the name (the sidebar and the thumbnails show it as it is); the summary,
        # the thumbnail's tooltip, comes first under it. One line each: a wrapped line could start
        # like a list item.
        summary, caption = rst_text(d.summary[0].upper() + d.summary[1:] + "."), rst_text(d.caption)
        script = (
            f'r"""\n{d.name}\n{"=" * len(d.name)}\n\n{summary}\n\n{caption}\n\n'
            f"From the shell: ``{d.command_line()}`` (``simulate {d.command}`` with the demo's options).\n"
            f'"""\n\n'
            f"from simulate.cli.demos import demo\n\n"
            f"paths = demo({d.name!r}, {d.name + '.png'!r}, dpi={SITE_DPI}, overwrite=True)\n")
        path = folder / f"plot_{d.name.replace('-', '_')}.py"
        path.write_text(script)
        written.append(path)
    return written


class DemoOrder:
    """The gallery in the order of ``DEMOS`` (sphinx-gallery's ``within_subsection_order``)."""

    def __init__(self, src_dir):
        from simulate.cli.demos import DEMOS

        self.order = {f"plot_{name.replace('-', '_')}.py": i for i, name in enumerate(DEMOS)}

    def __call__(self, filename: str) -> int:
        return self.order[filename]


def demo_figure_scraper(block, block_vars, gallery_conf):
    """The figures a demo wrote (``paths``, the list ``demo`` returns), moved into the gallery."""
    from sphinx_gallery.scrapers import figure_rst

    example_dir = Path(block_vars["src_file"]).parent
    paths = block_vars["example_globals"].get("paths") or []
    images = []
    for path, target in zip([p for p in paths if str(p).endswith(".png")], block_vars["image_path_iterator"]):
        shutil.move(str(example_dir / path), target)
        images.append(target)
    for other in paths:  # the run record: not part of the page
        if (example_dir / other).exists():
            (example_dir / other).unlink()
    return figure_rst(images, gallery_conf["src_dir"])


# Docstrings write mathematics in plain unicode (|∇f|, x*, g_i), as help() shows it. In reST a bar
# starts a substitution (|x|) and a trailing underscore makes a link (clip_grad_norm_), so outside
# literals and literal blocks both are escaped before autodoc parses the docstring: the page then
# shows exactly what help() shows. (No docstring uses substitutions, grid tables or links.)
_LITERAL = re.compile(r"(``.+?``|:[a-z:]+:`[^`]+`)")
_LINK_END = re.compile(r"(?<=\w)_(?=[\s,.;:)]|$)")


def plain_text_math(app, what, name, obj, options, lines: list[str]) -> None:
    """``autodoc-process-docstring``: escape bars and trailing underscores outside literals."""
    block_indent = None  # inside a literal block (after a "::" line): its parent's indent
    borders = 0  # simple-table border lines seen: rows are columns, so escapes must not shift them
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        if _TABLE_BORDER.match(line):
            borders += 1
            continue
        if not line.strip() and borders % 2 == 0:
            borders = 0  # a table ends at its last border (its rows may not be blank)
        if line.lstrip().startswith(">>>"):
            continue
        parts = _LITERAL.split(line)
        for j in range(0, len(parts), 2):
            parts[j] = _LINK_END.sub(r"\\_", parts[j].replace("|", r"\|"))
        escaped = "".join(parts)
        lines[i] = _realign(escaped, len(escaped) - len(line)) if borders else escaped
        if line.rstrip().endswith("::"):
            block_indent = indent


_TABLE_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")


def _realign(row: str, added: int) -> str:
    """A table row whose escapes added characters, with as many spaces taken from its gaps between
    columns (runs of two or more spaces, after each escape), so every column starts where it did."""
    out, pending, k = [], 0, 0
    while k < len(row):
        if row[k] == "\\":
            pending += 1
        if row[k] == " " and pending:
            run = len(row[k:]) - len(row[k:].lstrip(" "))
            if run >= 2 or k + run == len(row):
                take = min(pending, run - 1) if k + run < len(row) else run
                out.append(" " * (run - take))
                pending -= min(pending, take)
                k += run
                continue
        out.append(row[k])
        k += 1
    return "".join(out)
