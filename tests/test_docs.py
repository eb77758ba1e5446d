"""The documentation site (docs/) builds with warnings as errors, runs every gallery example, and
every internal link of the built HTML resolves; the README stays one screen.

The site is built once per test session, in the background from the end of the collection (one
build shared by every worker under pytest-xdist; conftest.py begins it and sorts these tests last,
so that no worker waits for it), from a copy of docs/ so that the generated pages never land in
the working tree.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import docs_build_result, shared_folder

ROOT = Path(__file__).parents[1]


class Site:
    def __init__(self, html_dir: Path, log: str, seconds: float):
        self.html, self.log, self.seconds = html_dir, log, seconds

    def page(self, name: str) -> str:
        return (self.html / name).read_text()


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    shared = shared_folder(tmp_path_factory)
    code, seconds, log = docs_build_result(shared)
    site = Site(shared / "docs-site", log, seconds)
    site.returncode = int(code) if code.lstrip("-").isdigit() else -1
    return site


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(site):
    assert site.returncode == 0 and "WARNING" not in site.log and "ERROR" not in site.log, site.log[-6000:]
    for page in ("index.html", "getting-started.html", "how-to/add-an-optimizer.html", "theory/index.html",
                 "tutorials/gd-is-euler.html", "api/index.html", "cli/index.html", "gallery/index.html"):
        assert (site.html / page).is_file(), page


def _text(page: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.mark.slow
def test_every_demo_is_a_gallery_page_with_its_figure_and_its_caption(site):
    """The example scripts are generated from DEMOS at build time: each page holds the demo's own
    caption (one home: the Demo) and the figure its run drew, a real PNG."""
    from simulate.cli.demos import DEMOS

    index = site.page("gallery/index.html")
    for name, d in DEMOS.items():
        stem = f"plot_{name.replace('-', '_')}"
        page = site.page(f"gallery/{stem}.html")
        assert " ".join(d.caption.split()) in _text(page), name
        image = site.html / "_images" / f"sphx_glr_{stem}_001.png"
        assert f'src="../_images/sphx_glr_{stem}_001.png"' in page, name
        head = image.read_bytes()[:24]
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and width > 300 and height > 150, (name, width, height)
        assert f'href="{stem}.html"' in index, name


@pytest.mark.slow
def test_the_tutorials_code_ran_and_drew_its_figures(site):
    for name in ("gd-is-euler", "momentum-two-limits", "adam-sign-flow", "sweeps-and-basins", "games"):
        page = site.page(f"tutorials/{name}.html")
        drawn = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', page)
        assert any("sphx_glr" not in src for src in drawn), name  # the plot directive's own output
        assert any("sphx_glr" in src for src in drawn), name  # and the demo's figure from the gallery


@pytest.mark.slow
def test_the_cli_reference_has_every_command_and_option(site):
    import typer

    from simulate.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="simulate")
    index = site.page("cli/index.html")
    for name in list(root.commands):
        _, command, _ = root.resolve_command(ctx, [name])  # built lazily: its options exist now
        assert len(command.params) > 1 or name == "list", name
        page = _text(site.page(f"cli/{name}.html"))
        assert f'href="{name}.html"' in index, name
        for param in command.params:
            if not getattr(param, "hidden", False):
                assert all(opt in page for opt in param.opts), (name, param.opts)


@pytest.mark.slow
def test_the_api_reference_documents_every_public_name_where_it_is_defined(site):
    import simulate

    ids = set()
    for page in (site.html / "api").glob("*.html"):
        ids |= set(re.findall(r'id="([^"]+)"', page.read_text()))
    missing = []
    for name in simulate.__all__:
        obj = getattr(simulate, name)
        if callable(obj) and getattr(obj, "__module__", "").startswith("simulate"):
            home = f"{obj.__module__}.{obj.__qualname__}"
            if home not in ids:
                missing.append(home)
    assert not missing, missing


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value:
                self.links.append(value)
            if key in ("id", "name") and value:
                self.ids.add(value)


@pytest.mark.slow
def test_every_internal_link_resolves_anchors_included(site):
    pages = {}
    for path in site.html.rglob("*.html"):
        parser = _Links()
        parser.feed(path.read_text())
        pages[path.resolve()] = parser
    broken = []
    for path, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site.html.resolve())}: {link}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{path.relative_to(site.html.resolve())}: {link} (no such anchor)")
    assert len(pages) > 50 and not broken, broken[:30]


def test_the_readme_is_one_screen_with_the_two_commands_first():
    """.ci/run runs the README's second command; the page the README points to exists."""
    import typer

    from simulate.cli.app import app

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 60  # a screen: the commands, a picture, the speed table
    first = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first == 'pip install . && simulate plot\npip install ".[test]" && python -m pytest -n auto\n'
    assert 'pip install ".[docs]" && python -m sphinx -W docs docs/_build/html' in text
    assert "simulate --help" in text
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / image).is_file(), image
    commands = set(typer.main.get_command(app).commands)
    shown = re.findall(r"(?m)^simulate ([a-z-]+)", text)
    assert len(shown) == 10 and set(shown) <= commands, shown
