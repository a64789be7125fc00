"""Open every page of the built site (docs/_build/html) in headless Chromium and fail on a console
error, a broken internal link (missing file or missing #anchor) or an image that does not load;
save screenshots of the index and of one gallery page and check that they show content.

    python docs/check_site.py [--site docs/_build/html] [--shots docs/_build/screenshots]

Skips (exit status 0, one line saying why) where Chromium, its driver or the built site is absent.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

DOCS = Path(__file__).resolve().parent
GALLERY_PAGE = "auto_examples/plot_first_simulation.html"


def skip(reason: str) -> int:
    print(f"check_site: skipped: {reason}")
    return 0


def find(names: list[str]) -> str | None:
    for name in names:
        path = shutil.which(name) or (name if Path(name).exists() else None)
        if path:
            return path
    return None


def driver_for(chromium: str, chromedriver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.add_argument("--allow-file-access-from-files")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


_IDS: dict[Path, set[str]] = {}


def ids_of(path: Path) -> set[str]:
    if path not in _IDS:
        text = path.read_text(errors="replace")
        _IDS[path] = set(re.findall(r'\bid="([^"]+)"', text)) | set(
            re.findall(r'\bname="([^"]+)"', text)
        )
    return _IDS[path]


def broken_link(href: str, site: Path) -> str | None:
    """Why the internal link ``href`` (an absolute file:// URL) is broken, or None."""
    url = urlsplit(href)
    if url.scheme != "file":
        return None
    path = Path(unquote(url.path))
    if path.is_dir():
        path = path / "index.html"
    if not path.exists():
        return "no such file"
    if url.fragment and path.suffix == ".html" and unquote(url.fragment) not in ids_of(path):
        return f"no anchor #{url.fragment}"
    return None


def shows_content(png: Path) -> bool:
    """The screenshot is not blank: enough distinct colours and dark (text) pixels."""
    from PIL import Image

    img = Image.open(png).convert("L")
    hist = img.histogram()
    dark = sum(hist[:128]) / (img.width * img.height)
    return sum(1 for h in hist if h) > 20 and dark > 0.005


def check(site: Path, shots: Path, chromium: str, chromedriver: str) -> list[str]:
    # every page; _static holds the theme's template fragments, not pages
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
    driver = driver_for(chromium, chromedriver)
    problems: list[str] = []
    try:
        for page in pages:
            rel = page.relative_to(site)
            driver.get(page.as_uri())
            for entry in driver.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"{rel}: console error: {entry.get('message')}")
            missing = driver.execute_script(
                "return Array.from(document.images)"
                ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            problems += [f"{rel}: image does not load: {src}" for src in missing]
            hrefs = driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
            )
            for href in dict.fromkeys(hrefs):
                why = broken_link(href, site)
                if why:
                    problems.append(f"{rel}: broken link {href}: {why}")
        shots.mkdir(parents=True, exist_ok=True)
        for name in ("index.html", GALLERY_PAGE):
            page = site / name
            if not page.exists():
                problems.append(f"{name}: missing")
                continue
            driver.get(page.as_uri())
            png = shots / (Path(name).stem + ".png")
            driver.save_screenshot(str(png))
            if not shows_content(png):
                problems.append(f"{name}: the screenshot {png} looks blank")
    finally:
        driver.quit()
    print(f"check_site: {len(pages)} pages opened in headless Chromium; screenshots in {shots}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=DOCS / "_build" / "html")
    ap.add_argument("--shots", type=Path, default=DOCS / "_build" / "screenshots")
    args = ap.parse_args(argv)
    if not (args.site / "index.html").exists():
        return skip(f"no built site at {args.site} (run docs/build.sh first)")
    chromium = find(["chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"])
    chromedriver = find(["chromedriver", "/usr/bin/chromedriver"])
    if not chromium or not chromedriver:
        return skip(
            "Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return skip('selenium is not installed (pip install -e ".[docs]")')
    problems = check(args.site, args.shots, chromium, chromedriver)
    for p in problems:
        print(f"check_site: {p}")
    if problems:
        print(f"check_site: {len(problems)} problems")
        return 1
    print("check_site: no console error, broken link or missing image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
