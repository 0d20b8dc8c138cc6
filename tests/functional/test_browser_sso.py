"""The whole single sign-on loop in a real browser (headless Chromium, driven by Playwright).

`sso-bridge demo` runs as a newcomer runs it (the bridge, the DR simulator with its storefront, the
demo merchant site, each on a free port); the test reads the URLs and sample logins it prints and
walks the loop: merchant sign-in -> store (ValidateSessionRequest + GetUserProfileRequest); store
sign-out -> merchant logout -> signed out on both; store sign-in with a merchant password
(LoginRequest); registration at the store's checkout (CreateUserProfileRequest), then merchant
sign-in with the new account; wrong passwords refused with the same message as unknown accounts.
On failure the page's screenshot and HTML are saved in ``test-artifacts/`` (beside the test log).
A screenshot of the signed-in store is always written there too (docs/sso-loop.png is one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.servers import free_port, wait_until_up

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SSO_BRIDGE = ROOT / ".venv" / "bin" / "sso-bridge"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The machine's network is closed: keep Chromium from trying to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Demo:
    def __init__(self, output: str) -> None:
        self.output = output
        self.merchant = self._line("Merchant site")
        self.store = self._line("DR store")
        self.users = dict(re.findall(r"^\s+(\S+@\S+)\s+(\S+)\s", output, flags=re.MULTILINE))

    def _line(self, label: str) -> str:
        found = re.search(rf"^{label}: (\S+)$", self.output, flags=re.MULTILINE)
        assert found, f"the demo did not print '{label}: <url>':\n{self.output}"
        return found.group(1)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    bridge, simulator, merchant = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BRIDGE_")}
    log = tmp_path / "demo.out"
    with log.open("w+b") as output:
        process = subprocess.Popen(
            [
                str(SSO_BRIDGE),
                "demo",
                "--bind",
                f"127.0.0.1:{bridge}",
                "--simulator-bind",
                f"127.0.0.1:{simulator}",
                "--merchant-bind",
                f"127.0.0.1:{merchant}",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{bridge}/healthz", process, timeout=60)
            wait_until_up(f"http://127.0.0.1:{merchant}/", process, timeout=30)
            time.sleep(0.2)  # the banner is flushed before the bridge serves
            yield Demo(log.read_text())
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is missing: scripts/test installs it (apt chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    report = getattr(request.node, "rep_call", None)  # set by tests/conftest.py
    if report is not None and report.failed:
        # Keep what the browser showed, for the person reading the log.
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        (ARTIFACTS / f"{request.node.name}.html").write_text(opened.content())
    context.close()


def sign_in(page: Page, login: str, password: str) -> None:
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_the_whole_sso_loop_in_a_browser(demo: Demo, page: Page) -> None:
    password = demo.users["demo@example.com"]

    # 1. Signed in on the merchant site, then on to the store: signed in there as the same user.
    page.goto(demo.merchant)
    expect(page.locator("body")).to_contain_text("Not signed in")
    sign_in(page, "demo@example.com", password)
    expect(page.locator("body")).to_contain_text("Signed in as demo@example.com")
    page.get_by_role("link", name=re.compile("store", re.IGNORECASE)).click()
    expect(page.locator("body")).to_contain_text("Signed in as demo@example.com")
    assert page.url.startswith(demo.store), page.url
    assert "token=" not in page.url  # the hand-off token leaves the address bar
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sso-loop.png"))

    # 2. Signing out on the store signs the shopper out of both.
    page.get_by_role("link", name=re.compile("Sign out")).click()
    expect(page.locator("body")).to_contain_text("Not signed in")
    assert page.url.startswith(demo.store), page.url
    page.goto(demo.merchant)
    expect(page.locator("body")).to_contain_text("Not signed in")

    # 3. Signing in on the store with the merchant's password (LoginRequest).
    page.goto(demo.store)
    page.get_by_role("link", name=re.compile("Sign in")).click()
    sign_in(page, "wp@example.com", demo.users["wp@example.com"])
    expect(page.locator("body")).to_contain_text("Signed in as wp@example.com")
    page.get_by_role("link", name=re.compile("Sign out")).click()
    expect(page.locator("body")).to_contain_text("Not signed in")

    # 4. Registering at the store's checkout, then signing in with it on the merchant site.
    page.goto(demo.store)
    page.get_by_role("link", name=re.compile("Checkout")).click()
    page.fill("input[name=email]", "browser.newcomer@example.com")
    page.fill("input[name=password]", "a-new-long-password")
    page.fill("input[name=firstName]", "Brow")
    page.fill("input[name=lastName]", "Ser")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Signed in as browser.newcomer@example.com")
    page.get_by_role("link", name=re.compile("Sign out")).click()
    expect(page.locator("body")).to_contain_text("Not signed in")
    page.goto(demo.merchant)
    sign_in(page, "browser.newcomer@example.com", "a-new-long-password")
    expect(page.locator("body")).to_contain_text("Signed in as browser.newcomer@example.com")
    page.get_by_role("link", name=re.compile("Sign out")).click()
    expect(page.locator("body")).to_contain_text("Not signed in")


def _refusal(page: Page) -> str:
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    return alert.inner_text()


def test_wrong_passwords_are_refused_like_unknown_accounts_on_both_sites(
    demo: Demo, page: Page
) -> None:
    for site, form in ((demo.merchant, demo.merchant), (demo.store, demo.store + "login")):
        page.goto(form)
        sign_in(page, "demo@example.com", "not-the-password")
        wrong = _refusal(page)
        page.goto(form)
        sign_in(page, "nobody-at-all@example.com", "not-the-password")
        unknown = _refusal(page)
        assert wrong == unknown, site
        page.goto(site)
        expect(page.locator("body")).to_contain_text("Not signed in")


def test_logout_never_redirects_off_the_allowlist(demo: Demo, page: Page) -> None:
    page.goto(demo.merchant + "logout?return_to=https://evil.example/steal")
    assert page.url == demo.merchant, page.url
    page.goto(demo.merchant + "logout?return_to=" + demo.store)
    assert page.url == demo.store, page.url
