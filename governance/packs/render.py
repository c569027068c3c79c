"""Rendering a pack: Django template (autoescaped) -> WeasyPrint PDF/A-3b with the manifest and the
listings attached.

Attached files: ``manifest.json`` (what the pack claims, with a SHA-256 for every other attached file
and every evidence revision listed), CSV listings under ``listings/`` and small evidence files under
``evidence/``. The HTML is made from user content, so the fetcher serves nothing but the app's own
static files (``governance.pdf``); everything else a document names is refused, never fetched.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import mimetypes
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML, Attachment

from assessments.export import defuse
from governance.packs.content import PackContent
from governance.pdf import StaticOnlyFetcher

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "warden-evidence-pack/1"
PDF_VARIANT = "pdf/a-3b"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def generator() -> dict:
    return {"name": "Warden", "version": _version("warden"), "weasyprint": _version("weasyprint"),
            "pyhanko": _version("pyhanko")}


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([defuse("" if value is None else value) for value in row])
    # A byte-order mark so that spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _media_type(name: str) -> str:
    if name.endswith(".csv"):
        return "text/csv"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def build_manifest(*, content: PackContent, files: dict[str, bytes], meta: dict) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        **meta,
        "generator": generator(),
        "attachments": [
            {"name": name, "media_type": _media_type(name), "size": len(data),
             "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sorted(files.items())
        ],
        "items": [
            {
                "ref": entry.ref, "item_id": entry.item.pk, "revision": entry.revision.number,
                "title": entry.item.title, "source": entry.item.source,
                "model_id": entry.item.model_id, "dataset_id": entry.item.dataset_id,
                "requirements": entry.requirement_urns, "controls": entry.control_urns,
                "collected_at": entry.revision.collected_at.isoformat(),
                "effective_date": entry.revision.effective_date.isoformat(),
                "expires_at": entry.revision.expires_at.isoformat() if entry.revision.expires_at else None,
                "freshness": entry.freshness, "media_type": entry.revision.media_type,
                "size": entry.revision.size, "sha256": entry.revision.sha256,
                "attachment": entry.attachment or None, **({"note": entry.attach_note} if entry.attach_note else {}),
            }
            for entry in content.evidence
        ],
    }


@dataclass
class RenderedPack:
    pdf: bytes
    pages: int
    manifest: dict
    html: str
    refused_urls: list[str]


def pack_html(*, content: PackContent, meta: dict) -> str:
    return render_to_string("governance/packs/pack_pdf.html", {**content.context, "meta": meta,
                                                                "generated_at": timezone.localtime()})


def render_pack(*, content: PackContent, meta: dict) -> RenderedPack:
    files = {name: csv_bytes(header, rows) for name, (header, rows) in content.listings.items()}
    files.update(content.attachments)
    manifest = build_manifest(content=content, files=files, meta=meta)
    manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")
    html = pack_html(content=content, meta={**meta, "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                                            "listing_names": sorted(content.listings)})
    fetcher = StaticOnlyFetcher()
    attachments = [Attachment(file_obj=io.BytesIO(manifest_bytes), name=MANIFEST_NAME,
                              description="What this pack contains, with a SHA-256 for every attached file",
                              relationship="Data", url_fetcher=fetcher)]
    attachments += [
        Attachment(file_obj=io.BytesIO(data), name=name, relationship="Source" if name.startswith("evidence/")
                   else "Data", url_fetcher=fetcher)
        for name, data in sorted(files.items())
    ]
    # No base URL: a relative URL in user content resolves to nothing and is never fetched.
    document = HTML(string=html, url_fetcher=fetcher).render()
    # Tagged: headings, tables and reading order reach screen readers (auditors use them too).
    pdf = document.write_pdf(pdf_variant=PDF_VARIANT, attachments=attachments, pdf_tags=True,
                             custom_metadata=False)
    return RenderedPack(pdf=pdf, pages=len(document.pages), manifest=manifest, html=html,
                        refused_urls=list(fetcher.refused))
