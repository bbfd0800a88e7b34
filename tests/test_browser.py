"""One real browser: `streamlit run app.py` in a subprocess, Debian's chromium driven by Playwright, a note
pasted, the code button pressed, the CPT codes seen. With FACETCODER_SCREENSHOT=1 the page is saved as
docs/app-coding-a-note.png (the README's screenshot)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO
from review_support import LUMBAR_4, example_text

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "docs" / "app-coding-a-note.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with {server.returncode}: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"streamlit did not answer {url} within {timeout} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")
    port = free_port()
    tmp_path = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FACETCODER_REVIEW_DB": str(tmp_path / "reviews.sqlite"),
           "FACETCODER_REVIEWER": "browser-test"}
    # address and usage statistics come from .streamlit/config.toml (the cwd), which is what this checks
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://localhost:{port}/_stcore/health", server)
        yield f"http://localhost:{port}/"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_browser_pastes_a_note_and_sees_its_cpt_codes(app_url):
    from playwright.sync_api import expect, sync_playwright

    note = example_text(LUMBAR_4)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            page.goto(app_url, wait_until="domcontentloaded")
            box = page.get_by_label("Procedure note")
            box.wait_for(timeout=20_000)
            box.fill(note)
            box.press("Control+Enter")  # commit the text area's value before the click
            page.get_by_role("button", name="Code note").click()
            for line in ("64493-50-KX", "64494-50-KX", "64495-50"):
                expect(page.get_by_text(line, exact=True).first).to_be_visible(timeout=20_000)
            expect(page.locator("mark.fc-level").first).to_be_visible()
            expect(page.get_by_text("R-LEVEL-LIMIT").first).to_be_visible()
            if os.environ.get("FACETCODER_SCREENSHOT") == "1":
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.wait_for_timeout(500)  # let the table finish drawing
                page.screenshot(path=str(SCREENSHOT), full_page=False)
        finally:
            browser.close()


def outward_address() -> str | None:
    """This machine's address on its main network interface (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_the_server_listens_on_localhost_only(app_url):
    port = int(app_url.rstrip("/").rsplit(":", 1)[1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as resp:
        assert resp.status == 200
    addr = outward_address()
    if addr is None:
        pytest.skip("no network interface besides loopback to try")
    with pytest.raises(OSError):
        socket.create_connection((addr, port), timeout=2).close()
