"""Opens every page of the built site in headless Chromium and checks it.

    python docs/_check_browser.py [--site site] [--chromium /usr/bin/chromium]
                                  [--screenshots DIR]

(`nox -s docs_browser` builds the site and runs this.) The site is served
from a local port in a thread; the browser is the system's Chromium
(Debian's `chromium` package), driven by Playwright — nothing is downloaded.
For every page: no console error, no uncaught exception, no failed request
(HTTP status >= 400, a network error, or any request that leaves the local
server), every image loaded. On the home page, the search box must find
`DeformableConv2D`. Prints one line per page and exits 1 on any problem.
Not part of the package and not collected by pytest.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

_IMAGES_JS = """() => Array.from(document.images).map(i => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}))"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the browser's view is what we report
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def check_page(browser, base: str, path: str, screenshots: Path | None) -> tuple[list[str], str]:
    """Problems found on one page, and a one-line summary."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))

    def on_response(response):
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_request(request):
        if not request.url.startswith((base, "data:", "blob:")):
            problems.append(f"request outside the site: {request.url}")

    page.on("response", on_response)
    page.on("request", on_request)
    page.goto(f"{base}/{path}", wait_until="networkidle")
    images = page.evaluate(_IMAGES_JS)
    problems += [f"image not loaded: {i['src']}" for i in images if not i["ok"]]
    math = page.locator("math").count()
    title = page.title()
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshots / (path.replace("/", "_") + ".png")), full_page=True)
    page.close()
    summary = f"{path}: '{title}', {len(images)} image(s) loaded, {math} formula(s)"
    return problems, summary


def check_search(browser, base: str, query: str) -> tuple[list[str], str]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/index.html", wait_until="networkidle")
    page.locator("input.md-search__input").first.click(force=True)
    page.keyboard.type(query, delay=20)  # as a user types: the search worker listens to keys
    results = page.locator(".md-search-result__item")
    try:
        results.first.wait_for(timeout=15000)
    except Exception:
        page.close()
        return [f"search for {query!r}: no result"] + errors, ""
    texts = results.all_inner_texts()
    first_link = page.locator(".md-search-result__link").first.get_attribute("href")
    page.close()
    problems = list(errors)
    if not any(query in t for t in texts):
        problems.append(f"search for {query!r}: no result mentions it")
    meta = " ".join(t.strip() for t in texts[:1]).replace("\n", " ")[:80]
    return problems, f"search {query!r}: {len(texts)} result(s), first -> {first_link} ({meta})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default="site", help="the built site (mkdocs build)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser binary")
    parser.add_argument("--screenshots", default=None, help="write a full-page PNG per page here")
    parser.add_argument("--search", default="DeformableConv2D", help="what the search must find")
    args = parser.parse_args(argv)
    site = Path(args.site).resolve()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    if not pages:
        print(f"no pages under {site}: build the site first (mkdocs build)")
        return 1
    server, base = serve(site)
    failures = 0
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            for path in pages:
                problems, summary = check_page(
                    browser, base, path, Path(args.screenshots) if args.screenshots else None
                )
                print(("OK    " if not problems else "FAIL  ") + summary)
                for problem in problems:
                    print("        " + problem)
                failures += bool(problems)
            problems, summary = check_search(browser, base, args.search)
            print(("OK    " if not problems else "FAIL  ") + summary)
            for problem in problems:
                print("        " + problem)
            failures += bool(problems)
            browser.close()
    finally:
        server.shutdown()
    print(f"{len(pages)} page(s) checked in Chromium at {base}; {failures} with problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
