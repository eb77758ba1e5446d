"""Screenshots of the built site, to look at it as a reader does.

    python docs/screenshots.py [--build] [--out docs/_build/screenshots]

Takes the start page, one gallery page and one API page with headless Chromium (Debian's
``apt-get install -y chromium``; run as root here, hence --no-sandbox). With ``--build`` it first
builds the site with MathJax from Debian's ``libjs-mathjax`` when that is installed (the default
MathJax comes from a CDN, which a machine without network cannot reach: the formulas would show
as TeX source).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PAGES = {
    "start": "index.html",
    "gallery": "gallery/plot_gd_is_euler.html",
    "api": "api/simulate.optimizers.html",
    "theory": "theory/optimizers.html",
    "tutorial": "tutorials/adam-sign-flow.html",
}
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")


def build(html: Path) -> None:
    env = dict(os.environ)
    if LOCAL_MATHJAX.exists():
        env["SIMULATE_DOCS_MATHJAX"] = f"file://{LOCAL_MATHJAX}?config=TeX-AMS-MML_HTMLorMML"
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(html)],
                   check=True, env=env)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("no Chromium found: apt-get install -y chromium")


def screenshot(page: Path, png: Path, size: str = "1280,1600") -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--hide-scrollbars", "--virtual-time-budget=5000", f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={size}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=DOCS / "_build" / "html")
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots")
    parser.add_argument("--build", action="store_true", help="build the site first (local MathJax if installed)")
    args = parser.parse_args()
    if args.build:
        build(args.html)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, page in PAGES.items():
        png = args.out / f"{name}.png"
        screenshot(args.html / page, png)
        print(png)


if __name__ == "__main__":
    main()
