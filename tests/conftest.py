"""Shared fixtures. Keep small: one real Tansu broker per test session + unique topic names."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from streams.broker import LocalBroker

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def broker():
    """A started local Tansu broker (in-memory storage), stopped at the end of the session.
    Set BEDFLOW_TEST_BOOTSTRAP=host:port to use an already running broker instead."""
    external = os.environ.get("BEDFLOW_TEST_BOOTSTRAP")
    if external:
        from streams.broker import wait_for_broker

        if not wait_for_broker(external, 20):
            pytest.fail(f"broker unreachable: {external}")

        class _External:
            bootstrap = external
            alive = True

        yield _External()
        return
    b = LocalBroker(log_dir=ARTIFACTS / "logs")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def unique_suffix() -> str:
    """A short random suffix for per-test topic / group names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_names(request, unique_suffix):
    """Factory: topic_names("beds", "waitlist") -> ["t.<test>.beds.<suffix>", ...] (unique per test)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]

    def make(*names: str) -> list[str]:
        return [f"t.{base}.{n}.{unique_suffix}" for n in names]

    return make


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (never `playwright install`), one per test module."""
    import shutil

    from playwright.sync_api import sync_playwright

    from web.pdf import CHROMIUM_ARGS

    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("Debian's chromium is required for the page test (make test installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()

