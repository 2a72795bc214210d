"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against pytest-django's live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent.parent / "test-output"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "browser tests need Chromium: run `make test` (it installs it) or apt-get it"
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture(autouse=True)
def no_csp_violations(browser, monkeypatch):
    """Every browser context a test opens reports what the Content-Security-Policy blocked; the test fails on any
    (an inline script or style element, eval, a third-party load), so a page that quietly lost behaviour to the
    policy cannot pass."""
    blocked: list[str] = []
    new_context = browser.new_context

    def watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on(
            "console",
            lambda message: "Content Security Policy" in message.text and blocked.append(message.text),
        )
        return context

    monkeypatch.setattr(browser, "new_context", watched_context)
    yield
    assert blocked == [], blocked


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-US"
    )
    yield context
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
