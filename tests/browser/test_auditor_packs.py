"""The auditor's evidence-pack journey in a real browser, on the demo organisation.

The auditor asks for a pack of the demo model "Credit risk scorer", watches it being built (the
worker is slowed down so the progress is visible), downloads it, uploads it to the public
verification page and sees it verified. A tampered copy is then refused on the same page.
Screenshots go to test-artifacts/screenshots/packs-*.png; the pack's first pages to
test-artifacts/packs/demo-*.png.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import time

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from governance.packs.signing import make_demo_authority
from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser
DEMO_AUDITOR, DEMO_AUDITOR_PASSWORD = "auditor", "demo-auditor-pass-2026"


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    from assessments.demo import seed_demo_assessments
    from governance.demo import seed_demo

    authority = make_demo_authority(tmp_path / "signing")
    settings.WARDEN_SIGNING_P12 = str(authority["p12"])
    settings.WARDEN_SIGNING_PASSPHRASE_FILE = str(authority["passphrase"])
    settings.WARDEN_SIGNING_TRUST = str(authority["ca"])
    settings.WARDEN_TSA_URL = ""
    call_command("load_catalog", stdout=io.StringIO())
    seed_demo()
    seed_demo_assessments()
    return authority


@pytest.fixture
def slow_worker(monkeypatch):
    """Build packs in a background thread, a little slowly, as a worker process would: the page's
    polling then has something to show."""
    from governance.packs import services

    threads = []
    real_progress = services.PackProgress.__call__

    def slow_progress(self, percent, message=""):
        time.sleep(0.25)
        return real_progress(self, percent, message)

    def dispatch(pack_pk):
        def work():
            from django.db import connection

            time.sleep(1.0)
            try:
                services.pack_build(pack_pk=pack_pk)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(services.PackProgress, "__call__", slow_progress)
    monkeypatch.setattr(services, "dispatch_pack", dispatch)
    yield
    for thread in threads:
        thread.join(timeout=120)


def test_auditor_builds_watches_downloads_and_verifies_a_pack(page, live_server, login, screenshot, demo,
                                                              slow_worker, tmp_path):
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    login(page, live_server, DEMO_AUDITOR, DEMO_AUDITOR_PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evidence packs").click()
    expect(page.get_by_role("heading", level=1, name="Evidence packs")).to_be_visible()
    # Only the chosen scope's fields show.
    expect(page.get_by_label("Framework (for a framework pack)")).to_be_hidden()
    page.get_by_label("A framework for a business unit").check()
    expect(page.get_by_label("Framework (for a framework pack)")).to_be_visible()
    expect(page.get_by_label("Model (for a model pack)")).to_be_hidden()
    page.get_by_label("One model and its datasets").check()
    page.get_by_label("Model (for a model pack)").select_option(label="Credit risk scorer")
    screenshot(page, "packs-1-build-form")
    page.get_by_role("button", name="Build the pack").click()

    expect(page.get_by_role("heading", level=1, name="Evidence pack")).to_be_visible()
    progress = page.locator("#pack-progress")
    expect(progress).to_be_visible()
    screenshot(page, "packs-2-building")
    expect(page.get_by_role("link", name="Download the signed pack")).to_be_visible(timeout=90_000)
    expect(page.locator('[data-pack-status="succeeded"]')).to_have_text("Ready")
    screenshot(page, "packs-3-ready")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the signed pack").click()
    download = download_info.value
    pdf = tmp_path / download.suggested_filename
    download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftoppm"):
        out = ARTIFACTS_DIR / "packs"
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "6", str(pdf), str(out / "demo")],  # noqa: S603,S607
                       check=True)

    page.get_by_role("link", name="Verify a pack").first.click()
    expect(page.get_by_role("heading", level=1, name="Verify an evidence pack")).to_be_visible()
    page.get_by_label("Evidence pack (PDF)").set_input_files(str(pdf))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Verified: this pack is authentic and complete")).to_be_visible()
    expect(page.get_by_text("Built by this installation")).to_be_visible()
    screenshot(page, "packs-4-verified")

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 4] ^= 0x01
    tampered.write_bytes(bytes(data))
    page.get_by_label("Evidence pack (PDF)").set_input_files(str(tampered))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Verified: this pack is authentic and complete")).to_have_count(0)
    screenshot(page, "packs-5-tampered")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evidence packs").click()
    row = page.get_by_role("row").filter(has_text="Credit risk scorer")
    expect(row.get_by_role("link", name="Download")).to_be_visible()
    screenshot(page, "packs-6-list")
    assert not [error for error in console_errors if "Content Security Policy" in error], console_errors


def test_pack_pages_fit_a_phone_and_anyone_may_verify(phone_page, live_server, login, screenshot, demo, tmp_path):
    from django.contrib.auth import get_user_model

    from governance.models import MLModel, PackScopeKind
    from governance.packs.scope import PackScope
    from tests.governance.packs.helpers import build, read

    pdf = tmp_path / "pack.pdf"

    def make_pack():
        # In a thread of its own: pyHanko signs through asyncio.run, and Playwright's sync API keeps an
        # event loop running in this one.
        from django.db import connection

        try:
            auditor = get_user_model().objects.get(username=DEMO_AUDITOR)
            model = MLModel.objects.get(name="Credit risk scorer")
            pdf.write_bytes(read(build(auditor, PackScope(kind=PackScopeKind.MODEL, model=model))))
        finally:
            connection.close()

    worker = threading.Thread(target=make_pack)
    worker.start()
    worker.join(timeout=120)
    assert pdf.exists()

    page = phone_page
    page.goto(f"{live_server.url}/packs/verify/")  # public: no sign-in needed
    expect(page.get_by_role("heading", level=1, name="Verify an evidence pack")).to_be_visible()
    page.get_by_label("Evidence pack (PDF)").set_input_files(str(pdf))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Verified: this pack is authentic and complete")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    screenshot(page, "packs-phone-verify")
    login(page, live_server, DEMO_AUDITOR, DEMO_AUDITOR_PASSWORD)
    page.goto(f"{live_server.url}/packs/")
    expect(page.get_by_role("heading", level=1, name="Evidence packs")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1
    screenshot(page, "packs-phone-list")
