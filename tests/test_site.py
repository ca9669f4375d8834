"""The built site, read in a real browser (Debian's Chromium driven by Playwright).

``make test`` runs this after the book is built.  It serves ``_build/html`` on 127.0.0.1,
blocks and records every request to any other host, and checks each page of the table of
contents the way a reader would meet it: it loads (HTTP 200) without a console or page error,
every image is loaded, MathJax typeset every formula (no error node, no raw ``\\(`` or ``$$``
left), no displayed equation is wider than the text column at 1280 px, every exercise
solution opens when its toggle is clicked, a chapter's download button offers its ``.ipynb``,
and the search page finds "softmax".  A full-page screenshot of every page is saved under
``_build/screenshots/`` for people to look at.

Without Chromium the module is skipped with a message -- except in CI (``CI=true``), where a
skipped browser test is a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
WIDTH, HEIGHT = 1280, 900
CHROMIUM = next(
    (
        p
        for p in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser")
        if p and Path(p).exists()
    ),
    shutil.which("chromium") or shutil.which("chromium-browser"),
)
CHROMIUM_ARGS = [  # keep Chromium itself from calling home (this machine's network is closed)
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]
CHECKS: Counter = Counter()  # check name -> number of pages on which it passed


def _toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` (root first), as paths relative to the site without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return pages


PAGES = _toc_pages()
NOTEBOOKS = {p for p in PAGES if (ROOT / f"{p}.ipynb").exists()}


def _skip_or_fail(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser test SKIPPED: {reason}", allow_module_level=True)


if not (HTML / "index.html").exists():
    _skip_or_fail("no built site in _build/html (run `make book` first)")
if CHROMIUM is None:
    _skip_or_fail("no Chromium found (install Debian's `chromium` package, or set CHROMIUM=/path)")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is in the locked dev environment
    _skip_or_fail("the playwright package is not installed (run `make install`)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
    print(f"\nbrowser test: {len(PAGES)} pages; checks passed per kind (pages):")
    for name, count in sorted(CHECKS.items()):
        print(f"  {name:<28} {count}")
    print(f"  total checks passed: {sum(CHECKS.values())}")


@pytest.fixture
def page(browser, server):
    """A fresh page that records console errors, page errors and off-site requests (blocked)."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.problems = {"console": [], "pageerror": [], "offsite": [], "failed": []}

    def route(r):
        host = urlsplit(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            r.continue_()
        else:
            page.problems["offsite"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on(
        "console",
        lambda m: m.type == "error" and page.problems["console"].append(f"{m.text} @ {m.location}"),
    )
    page.on("pageerror", lambda e: page.problems["pageerror"].append(str(e)))
    page.on(
        "requestfailed",
        lambda r: host_ok(r.url) and page.problems["failed"].append(f"{r.url}: {r.failure}"),
    )
    yield page
    context.close()


def host_ok(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1"


def passed(name: str) -> None:
    CHECKS[name] += 1


def _wait_for_mathjax(page) -> None:
    page.wait_for_function(
        "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise"
        " && (window.__mjDone || (window.MathJax.startup.promise.then(() => window.__mjDone = true), false)))",
        timeout=60_000,
    )


@pytest.mark.parametrize("name", PAGES)
def test_page(page, server, name):
    response = page.goto(f"{server}/{name}.html", wait_until="load")
    assert response is not None and response.status == 200, (
        f"{name}: HTTP {response and response.status}"
    )
    passed("HTTP 200")
    _wait_for_mathjax(page)
    # Not "networkidle": on a long page under load it may never fire although every request is done.
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=60_000)

    # Every image is loaded.
    broken = page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"{name}: images not loaded: {broken}"
    passed("images loaded")

    # Math typeset: containers present wherever the source has math, no error node, no raw TeX.
    n_math = page.locator(".math, span.math, div.math").count()
    n_mjx = page.locator("mjx-container").count()
    assert n_mjx >= n_math, f"{name}: {n_math} formulas, only {n_mjx} typeset"
    assert page.locator("mjx-merror, mjx-container [data-mjx-error]").count() == 0, (
        f"{name}: MathJax error: {page.locator('mjx-merror').first.inner_text() if page.locator('mjx-merror').count() else ''}"
    )
    # Raw TeX in the prose (code and typeset math left out): a delimiter, a `$` that a broken
    # line turned into text, or a control word such as \mathbf.
    raw_tex = page.evaluate(
        r"""() => {
          const main = document.querySelector('main').cloneNode(true);
          main.querySelectorAll('pre, code, mjx-container, script, style, .cell_output, .output')
              .forEach(e => e.remove());
          const text = main.textContent;
          const m = text.match(/\\\(|\\\[|\$|\\[A-Za-z]{2,}/);
          return m ? text.slice(Math.max(0, m.index - 60), m.index + 60) : null;
        }"""
    )
    assert raw_tex is None, f"{name}: raw TeX in the visible text: {raw_tex!r}"
    passed("math typeset")

    # Every exercise solution opens when its toggle is clicked.
    solutions = page.locator(".solution.dropdown")
    for i in range(solutions.count()):
        sol = solutions.nth(i)
        body = sol.locator("section").first
        assert not body.is_visible(), (
            f"{name}: solution {i + 1} is open before its toggle is clicked"
        )
        sol.locator("button.toggle-button").first.click()  # not the title: it holds a link
        body.wait_for(state="visible", timeout=5_000)
    if solutions.count():
        passed("solutions open")

    # No displayed equation wider than the text column.
    too_wide = page.evaluate(
        """() => {
          // An equation overflows when it is wider than its own display block, which spans the
          // text column (or the narrower box of an admonition, a proof, a list item).
          return [...document.querySelectorAll('mjx-container[display="true"]')]
            .map(c => [c, c.querySelector('mjx-math')])
            .filter(([c, m]) => m && m.getBoundingClientRect().width > c.getBoundingClientRect().width + 1)
            .map(([c, m]) => `${Math.round(m.getBoundingClientRect().width)} px in`
                             + ` ${Math.round(c.getBoundingClientRect().width)} px: `
                             + (c.closest('.math') || c).textContent.slice(0, 80));
        }"""
    )
    assert not too_wide, f"{name}: displayed equations wider than the column: {too_wide}"
    passed("equations fit the column")

    # No visible code or output line wider than its box (it would be cut off behind a scroll bar),
    # and no inline formula running past the right edge of its paragraph.
    clipped = page.evaluate(
        """() => {
          const out = [];
          for (const pre of document.querySelectorAll('main pre')) {
            if (pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1) {
              const line = pre.textContent.split('\\n')
                .reduce((a, b) => (b.length > a.length ? b : a), '');
              out.push(`code ${pre.scrollWidth} px in ${pre.clientWidth} px: ${line.slice(0, 90)}`);
            }
          }
          for (const m of document.querySelectorAll('mjx-container:not([display="true"])')) {
            const box = m.closest('p, li, dd, td, div');
            if (m.offsetParent !== null && box
                && m.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) {
              out.push(`inline math past the edge: ${m.textContent.slice(0, 60)}`);
            }
          }
          return out;
        }"""
    )
    assert not clipped, f"{name}: content wider than its box: {clipped}"
    passed("code and inline math fit")

    # A chapter's download button offers its notebook.
    if name in NOTEBOOKS:
        link = page.locator("a.btn-download-source-button[href$='.ipynb']")
        assert link.count() == 1, f"{name}: no .ipynb in the download menu"
        nb = page.request.get(
            f"{server}/{name}.html".rsplit("/", 1)[0] + "/" + link.get_attribute("href")
        )
        assert nb.status == 200 and "cells" in json.loads(nb.body()), (
            f"{name}: the .ipynb does not load"
        )
        passed("download offers .ipynb")

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name.replace('/', '__')}.png"), full_page=True)

    p = page.problems
    assert not p["offsite"], f"{name}: requests to other hosts: {p['offsite']}"
    passed("no off-site request")
    assert not p["pageerror"], f"{name}: page errors: {p['pageerror']}"
    assert not p["console"], f"{name}: console errors: {p['console']}"
    assert not p["failed"], f"{name}: failed requests: {p['failed']}"
    passed("no console/page error")


def test_search_finds_softmax(page, server):
    page.goto(f"{server}/search.html?q=softmax", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=30_000)
    hits = page.locator("#search-results li").count()
    assert hits > 0, "the search page found nothing for 'softmax'"
    assert not page.problems["offsite"], page.problems["offsite"]
    assert not page.problems["pageerror"] and not page.problems["console"], page.problems
    passed("search finds 'softmax'")
