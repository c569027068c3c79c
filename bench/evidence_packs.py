"""Evidence-pack benchmark: build signed packs for scopes of 1, 50 and 500 models, and compare with
WeasyPrint alone rendering the same HTML.

Usage:  .venv/bin/python bench/evidence_packs.py [--sizes 1,50,500]
        (PostgreSQL at BENCH_PACKS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/warden_h6)

Seeds, once, a business unit tree with 500 models: "Root" > "One" (1 model), "Fifty" (49 more: the
unit and its child hold 50) and "Rest" (450). Each model has a version trained on a dataset version,
two evidence items (a small file and a generated result) linked to GDPR requirements, two GDPR
requirement results, two risks and an audit trail. The scopes are GDPR for "One", for "Fifty" and
for "Root" (1, 50 and 500 models).

Each measurement runs in a fresh process (so peak memory is its own): the whole pipeline as the
worker runs it (collect with the selectors, render PDF/A-3b with attachments, sign, store), then,
in another fresh process, WeasyPrint alone on the same HTML (no attachments, no signature, no
database). Printed: pages, bytes, seconds to collect+render and to sign, total, and the peak RSS of
the process (VmHWM). No tracemalloc: it slows WeasyPrint's allocation-heavy layout several times over.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_PACKS_DATABASE_URL",
                                            "postgres://postgres@127.0.0.1:5432/warden_h6")
os.environ.setdefault("WARDEN_LOG_LEVEL", "WARNING")
os.environ.pop("REDIS_URL", None)  # the build runs here, in this process

MARKER = "bench-pack-model"


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def setup_django():
    import django
    from _pages import ensure_database

    ensure_database()
    django.setup()


def seed() -> None:
    import datetime as dt
    import io

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.utils import timezone

    from assessments.models import Requirement, RequirementResult, ResultStatus, Risk, RiskMatrix
    from governance.models import BusinessUnit, DatasetVersion, EvidenceSource, MLModel, ModelVersion, RoleGrant
    from governance.services.evidence import evidence_record
    from tests.factories import DatasetFactory

    call_command("migrate", verbosity=0)
    if not RiskMatrix.objects.exists():
        call_command("load_catalog", verbosity=0, stdout=io.StringIO())
    User = get_user_model()  # noqa: N806
    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"email": "owner@bench.example"})
    if MLModel.objects.filter(name__startswith=MARKER).count() >= 500:
        return
    print("Seeding 500 models with evidence, results, risks (once)...", flush=True)
    root, _ = BusinessUnit.objects.get_or_create(name="Bench root", parent=None)
    one, _ = BusinessUnit.objects.get_or_create(name="One", parent=root)
    fifty, _ = BusinessUnit.objects.get_or_create(name="Fifty", parent=root)
    fifty_child, _ = BusinessUnit.objects.get_or_create(name="Fifty child", parent=fifty)
    rest, _ = BusinessUnit.objects.get_or_create(name="Rest", parent=root)
    RoleGrant.objects.get_or_create(user=owner, role="admin", business_unit=root)
    units = [one] + [fifty] * 25 + [fifty_child] * 25 + [rest] * 449
    matrix = RiskMatrix.objects.get(is_default=True)
    requirements = list(Requirement.objects.filter(urn__startswith="urn:warden:gdpr", assessable=True)
                        .order_by("order")[:6])
    done = MLModel.objects.filter(name__startswith=MARKER).count()
    started = time.perf_counter()
    for index in range(done, 500):
        unit = units[index]
        model = MLModel.objects.create(name=f"{MARKER} {index:03d}", purpose="Benchmark model " * 5,
                                       owner=owner, business_unit=unit, risk_tier="high",
                                       processes_personal_data=True)
        dataset = DatasetFactory(name=f"{MARKER} data {index:03d}", business_unit=unit, owner=owner)
        dataset_version = DatasetVersion.objects.create(
            dataset=dataset, version="1", file=ContentFile(b"a,b\n1,2\n", name="d.csv"), file_name="d.csv",
            file_format="csv", file_size=8, sha256="0" * 64, created_by=owner)
        version = ModelVersion.objects.create(
            model=model, version="1.0", artifact=ContentFile(b"x", name="m.onnx"), artifact_name="m.onnx",
            artifact_format="onnx", artifact_size=1, artifact_sha256="1" * 64, created_by=owner)
        version.training_datasets.add(dataset_version)
        urns = [r.urn for r in requirements[index % 3:index % 3 + 2]]
        evidence_record(actor=owner, title=f"Access review {index}", source=EvidenceSource.UPLOAD,
                        business_unit=unit, model=model, requirement_urns=urns,
                        file=ContentFile(f"review {index}\n".encode() * 40, name="review.txt"),
                        media_type="text/plain", expires_at=timezone.localdate() + dt.timedelta(days=90))
        evidence_record(actor=owner, title=f"Scan summary {index}", source=EvidenceSource.API, business_unit=unit,
                        model=model, requirement_urns=urns, content={"model": index, "findings": [1, 2, 3]})
        RequirementResult.objects.bulk_create([
            RequirementResult(model=model, requirement=r, status=ResultStatus.MET if i else ResultStatus.PARTIAL)
            for i, r in enumerate(requirements[index % 3:index % 3 + 2])])
        likelihood, impact = matrix.likelihood_levels[index % 5]["id"], matrix.impact_levels[(index * 3) % 5]["id"]
        Risk.objects.bulk_create([
            Risk(model=model, title=f"Risk {n} of model {index}", matrix=matrix, inherent_likelihood=likelihood,
                 inherent_impact=impact, inherent_level=matrix.grid[index % 5][(index * 3) % 5],
                 inherent_rank=2, created_by=owner) for n in range(2)])
        if index % 50 == 49:
            print(f"  {index + 1} models ({time.perf_counter() - started:.0f} s)", flush=True)


def signing_settings() -> None:
    """A demo CA of the benchmark's own, outside the repository."""
    from django.conf import settings

    from governance.packs.signing import ensure_demo_authority

    directory = Path(tempfile.gettempdir()) / "warden-bench-signing"
    paths, _ = ensure_demo_authority(directory)
    settings.WARDEN_SIGNING_P12 = str(paths["p12"])
    settings.WARDEN_SIGNING_PASSPHRASE_FILE = str(paths["passphrase"])
    settings.WARDEN_SIGNING_TRUST = str(paths["ca"])
    settings.WARDEN_TSA_URL = ""


def scope_for(size: int):
    from assessments.models import Framework
    from governance.models import BusinessUnit, PackScopeKind
    from governance.packs.scope import PackScope

    unit = {1: "One", 50: "Fifty", 500: "Bench root"}[size]
    return PackScope(kind=PackScopeKind.FRAMEWORK, framework=Framework.objects.get(ref_id__iexact="GDPR"),
                     business_unit=BusinessUnit.objects.get(name=unit))


def child_pipeline(size: int, html_out: str) -> dict:
    from django.utils import timezone

    from governance.packs.content import collect_pack
    from governance.packs.render import pack_html
    from governance.packs.services import pack_build, pack_request

    signing_settings()
    scope = scope_for(size)
    end = timezone.localdate()
    start = end.replace(year=end.year - 1)
    began = time.perf_counter()
    pack = pack_request(actor=None, scope=scope, period_start=start, period_end=end, dispatch=False)
    pack = pack_build(pack_pk=pack.pk)
    total = time.perf_counter() - began
    rss = peak_rss_mib()
    if pack is None or pack.status != "succeeded":
        raise SystemExit(f"pack failed: {getattr(pack, 'error', 'claimed elsewhere')}")
    # The same HTML for the WeasyPrint-only run (not timed).
    content = collect_pack(scope=scope, user=None, period_start=start, period_end=end)
    Path(html_out).write_text(pack_html(content=content, meta={
        "pack_id": str(pack.pack_id), "scope": {"label": pack.scope_label},
        "period": {"start": str(start), "end": str(end)}, "listing_names": sorted(content.listings),
        "manifest_sha256": "0" * 64}), encoding="utf-8")
    models = content.context["models"]
    return {"models": len(models), "pages": pack.page_count, "bytes": pack.size, "render_s": pack.render_seconds,
            "sign_s": pack.sign_seconds, "total_s": total, "peak_rss_mib": rss}


def child_weasyprint(html_path: str) -> dict:
    from weasyprint import HTML

    from governance.pdf import StaticOnlyFetcher

    html = Path(html_path).read_text(encoding="utf-8")
    began = time.perf_counter()
    document = HTML(string=html, url_fetcher=StaticOnlyFetcher()).render()
    pdf = document.write_pdf()
    seconds = time.perf_counter() - began
    return {"pages": len(document.pages), "bytes": len(pdf), "render_s": seconds, "peak_rss_mib": peak_rss_mib()}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,50,500")
    parser.add_argument("--child", choices=["pipeline", "weasyprint"])
    parser.add_argument("--size", type=int)
    parser.add_argument("--html")
    args = parser.parse_args()

    if args.child == "weasyprint":
        import django

        django.setup()  # for the static-file finders behind the fetcher; no database is touched
        print(json.dumps(child_weasyprint(args.html)))
        return
    setup_django()
    if args.child == "pipeline":
        print(json.dumps(child_pipeline(args.size, args.html)))
        return

    seed()
    print(f"{'scope':>6} {'models':>6} | {'pages':>5} {'bytes':>10} {'render s':>9} {'sign s':>7} {'total s':>8} "
          f"{'peak RSS':>9} || WeasyPrint alone: {'pages':>5} {'bytes':>10} {'s':>6} {'RSS':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.NamedTemporaryFile(suffix=".html", delete=False) as handle:
            html_path = handle.name
        pipeline = run_child("--child", "pipeline", "--size", str(size), "--html", html_path)
        alone = run_child("--child", "weasyprint", "--html", html_path)
        os.unlink(html_path)
        print(f"{size:>6} {pipeline['models']:>6} | {pipeline['pages']:>5} {pipeline['bytes']:>10,} "
              f"{pipeline['render_s']:>9.2f} {pipeline['sign_s']:>7.2f} {pipeline['total_s']:>8.2f} "
              f"{pipeline['peak_rss_mib']:>7.0f}Mi || "
              f"{alone['pages']:>22} {alone['bytes']:>10,} {alone['render_s']:>6.2f} {alone['peak_rss_mib']:>5.0f}Mi",
              flush=True)
    print("render s: collecting with the selectors + HTML + PDF/A-3b with manifest and CSV/evidence attachments; "
          "sign s: PAdES signature (pyHanko); total: request, build and store as the worker does.")


if __name__ == "__main__":
    main()
