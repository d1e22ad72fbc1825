"""HTML → PDF through Playwright driving the Debian `chromium` binary (never Playwright's own browsers).

    html_to_pdf(html, Path("report.pdf"))  # synchronous; from an event loop, run it in a thread
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PDF_OPTIONS = {
    "format": "A4",
    "print_background": True,
    "prefer_css_page_size": True,
    "margin": {"top": "0", "right": "0", "bottom": "0", "left": "0"},  # margins come from @page
    # A tagged PDF (headings, tables, lists and reading order from the HTML; /Lang from <html lang>) for
    # screen readers, as WCAG 2.1 AA asks of public bodies' documents; bookmarks from the headings.
    "tagged": True,
    "outline": True,
}


class ChromiumNotFound(RuntimeError):
    """Raised when no chromium executable is on PATH."""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumNotFound(
        "chromium is not installed (no 'chromium' on PATH). Install the Debian package: "
        "`apt-get install chromium` — bedflow does not use Playwright's downloaded browsers."
    )


def _playwright_missing(exc: ImportError) -> RuntimeError:
    return RuntimeError("the 'playwright' Python package is required for PDF output "
                        "(pip install 'bedflow[test]' or pip install playwright)")


def html_to_pdf(html: str, out_path: Path) -> None:
    """Render `html` to an A4 PDF at `out_path` (parent directories are created).

    Must not be called from a running asyncio event loop (Playwright's sync API refuses); run it in a
    thread there (`asyncio.to_thread`)."""
    exe = chromium_path()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("html_to_pdf() called inside a running event loop; run it in a thread")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover
        raise _playwright_missing(exc) from exc
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load")
            page.emulate_media(media="print")
            page.pdf(path=str(out_path), **PDF_OPTIONS)
        finally:
            browser.close()
