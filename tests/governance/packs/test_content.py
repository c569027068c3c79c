"""What goes into a pack: hostile text rendered as text, nothing fetched but the app's static files,
empty scopes, constant query counts, and the daily evidence expiry flag."""

from __future__ import annotations

import datetime as dt
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from weasyprint import HTML

from governance.models import EvidenceRevision, EvidenceSource, PackScopeKind, PackStatus
from governance.packs.content import collect_pack
from governance.packs.render import pack_html
from governance.packs.scope import PackScope
from governance.pdf import StaticOnlyFetcher
from governance.services.evidence import evidence_record
from governance.services.evidence_expiry import evidence_flag_expiring
from tests.conftest import ARTIFACTS_DIR
from tests.factories import BusinessUnitFactory, DatasetFactory, MLModelFactory
from tests.governance.packs.conftest import add_model_with_evidence
from tests.governance.packs.helpers import build, period, read

pytestmark = pytest.mark.django_db
PDFTOTEXT, PDFTOPPM = shutil.which("pdftotext"), shutil.which("pdftoppm")


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the standard library's name
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def trap():
    """A local HTTP server that records every request: nothing in a pack may reach it."""
    _Recorder.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder.requests
    server.shutdown()


def pdf_text(data: bytes, tmp_path: Path) -> str:
    if PDFTOTEXT is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "text.pdf"
    path.write_bytes(data)
    return subprocess.run([PDFTOTEXT, "-layout", str(path), "-"], check=True, capture_output=True,  # noqa: S603
                          text=True).stdout


def test_the_fetcher_fetches_neither_files_nor_the_network(trap, tmp_path):
    url, requests = trap
    html = (f'<link rel="stylesheet" href="{url}/style.css"><style>@import url("{url}/imported.css");</style>'
            f'<p>before</p><img src="file:///etc/passwd"><img src="{url}/pixel.png">'
            '<img src="warden-static:../../governance/settings.py"><img src="warden-static:img/warden-mark.svg">'
            '<iframe src="file:///etc/passwd"></iframe><object data="file:///etc/passwd"></object><p>after</p>')
    fetcher = StaticOnlyFetcher()
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert requests == []
    assert "file:///etc/passwd" in fetcher.refused
    assert f"{url}/pixel.png" in fetcher.refused and f"{url}/style.css" in fetcher.refused
    assert "warden-static:../../governance/settings.py" in fetcher.refused
    assert "warden-static:img/warden-mark.svg" not in fetcher.refused
    text = pdf_text(pdf, tmp_path)
    assert "before" in text and "after" in text and "root:" not in text


HOSTILE = {
    "html": '<img src="file:///etc/passwd"><script>alert(1)</script><b>bold</b>',
    "css": '</style><style>body { display: none }</style><div style="position:fixed;top:0">cover</div>',
    "rtl": "שלום עולם مرحبا بالعالم \u202egnp.exe",
    "emoji": "🔥🤖💥 ☠️ 👩‍💻",
}


def test_hostile_text_in_every_field_is_rendered_as_text(catalog, retail, ml_lead, auditor, trap, tmp_path):
    from assessments.models import Risk

    url, requests = trap
    long_word = "A" * 10_000
    name = (HOSTILE["html"] + f'<img src="{url}/model.png">')[:120]
    model = add_model_with_evidence(unit=retail, owner=ml_lead, name=name, matrix=catalog)
    model.purpose = " ".join([HOSTILE["css"], HOSTILE["rtl"], HOSTILE["emoji"], long_word])
    model.save()
    DatasetFactory(name=HOSTILE["rtl"][:120], business_unit=retail, owner=ml_lead, source=HOSTILE["emoji"])
    evidence_record(actor=ml_lead, title=(HOSTILE["css"] + long_word)[:200], source=EvidenceSource.LINK,
                    business_unit=retail, model=model, url=f"{url}/evidence")
    risk = Risk.objects.get(model=model)
    risk.title = (HOSTILE["emoji"] + HOSTILE["rtl"] + long_word)[:200]
    risk.save()

    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=model))
    assert pack.status == PackStatus.SUCCEEDED, pack.error
    assert requests == []
    data = read(pack)
    text = pdf_text(data, tmp_path)
    assert "<script>alert(1)</script>" in text.replace("\n", "") or "<script>alert(1)" in text
    assert "root:" not in text
    assert "display: none" in text
    assert pack.page_count < 40

    start, end = period()
    content = collect_pack(scope=PackScope(kind=PackScopeKind.MODEL, model=model), user=auditor,
                           period_start=start, period_end=end)
    html = pack_html(content=content, meta={"pack_id": "x", "scope": {"label": name}, "period": {},
                                            "listing_names": []})
    assert "&lt;img src=&quot;file:///etc/passwd&quot;&gt;" in html
    assert '<img src="file:///etc/passwd">' not in html and "<script>alert" not in html

    if PDFTOPPM:
        # For a person to look at: the cover, the summary and the inventory with the hostile names.
        out = ARTIFACTS_DIR / "packs"
        out.mkdir(parents=True, exist_ok=True)
        pdf = tmp_path / "hostile.pdf"
        pdf.write_bytes(data)
        subprocess.run([PDFTOPPM, "-png", "-r", "60", "-f", "1", "-l", "8", str(pdf), str(out / "hostile")],  # noqa: S603
                       check=True)


def test_an_empty_scope_gives_a_clear_signed_pack(catalog, acme, risk_manager, tmp_path):
    from assessments.models import Framework

    empty_unit = BusinessUnitFactory(name="Empty unit", parent=risk_manager.role_grants.get().business_unit)
    gdpr = Framework.objects.get(ref_id__iexact="GDPR")
    start = timezone.localdate() + dt.timedelta(days=-3)
    pack = build(risk_manager, PackScope(kind=PackScopeKind.FRAMEWORK, framework=gdpr, business_unit=empty_unit),
                 start=start)
    assert pack.status == PackStatus.SUCCEEDED, pack.error
    text = " ".join(pdf_text(read(pack), tmp_path).split())
    assert "There is no evidence for this scope and period." in text
    assert "No model in this scope." in text


def _queries_for(scope, user) -> int:
    start, end = period()
    with CaptureQueriesContext(connection) as queries:
        collect_pack(scope=scope, user=user, period_start=start, period_end=end)
    return len(queries)


def test_collecting_a_pack_costs_the_same_queries_for_one_model_or_many(catalog, retail, ml_lead, auditor):
    from assessments.models import Framework

    gdpr = Framework.objects.get(ref_id__iexact="GDPR")
    scope = PackScope(kind=PackScopeKind.FRAMEWORK, framework=gdpr, business_unit=retail)
    add_model_with_evidence(unit=retail, owner=ml_lead, name="Model 0", matrix=catalog)
    _queries_for(scope, auditor)  # warm: the access profile is read once per user and kept
    one = _queries_for(scope, auditor)
    for index in range(1, 7):
        add_model_with_evidence(unit=retail, owner=ml_lead, name=f"Model {index}", matrix=catalog)
    # Each part reads all models, datasets or items at once: the count does not follow the scope's size.
    assert _queries_for(scope, auditor) == one
    org = PackScope(kind=PackScopeKind.ORGANISATION)
    assert _queries_for(org, None) <= one + len(Framework.objects.all()) * 8


def test_a_pack_shows_only_what_its_requester_may_see(catalog, retail, research, ml_lead, outsider, auditor):
    add_model_with_evidence(unit=retail, owner=ml_lead, name="Visible model", matrix=catalog)
    MLModelFactory(name="Hidden research model", business_unit=research, owner=outsider)
    start, end = period()
    content = collect_pack(scope=PackScope(kind=PackScopeKind.ORGANISATION), user=auditor, period_start=start,
                           period_end=end)
    assert [m.name for m in content.context["models"]] == ["Visible model"]


def test_daily_expiry_check_flags_each_revision_once_and_tells_the_owner(catalog, retail, ml_lead):
    model = add_model_with_evidence(unit=retail, owner=ml_lead, name="Scorer")
    ml_lead.email = "lead@example.com"
    ml_lead.save()
    mail.outbox.clear()
    flagged = evidence_flag_expiring()
    assert len(flagged) == 1  # the file expiring in 10 days; the generated result has no expiry
    revision = EvidenceRevision.objects.get(pk=flagged[0])
    assert revision.item.model == model and revision.expiry_flagged_on == timezone.localdate()
    assert len(mail.outbox) == 1 and "Encryption policy for Scorer" in mail.outbox[0].body
    assert mail.outbox[0].to == ["lead@example.com"]
    assert evidence_flag_expiring() == []
    assert len(mail.outbox) == 1
    # Past its expiry it is expired, not expiring: freshness is computed, the job does not flag it again.
    later = timezone.localdate() + dt.timedelta(days=11)
    assert revision.freshness(later) == "expired"
    assert evidence_flag_expiring(today=later) == []


def test_the_expiry_job_is_on_the_beat_schedule_and_packs_go_to_the_pdf_queue():
    from governance.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "governance.tasks.evidence_flag_expiring" in tasks
    router = app.amqp.router
    route = router.route({}, "governance.tasks.render_evidence_pack")
    assert route["queue"].name == "pdf"
