"""Certificate PDFs, rendered with WeasyPrint from a template.

WeasyPrint would fetch any URL a document names (http, https, file...). The certificate uses the
shared fetcher of ``governance.pdf``, which serves only the app's own static files
(``warden-static:<path>``) and refuses everything else, so that rendering never touches the network
or any other part of the file system.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from weasyprint import HTML

from governance.pdf import STATIC_SCHEME, RefusedURL, StaticOnlyFetcher
from training.models import Completion
from training.selectors import completion_standing

__all__ = ["STATIC_SCHEME", "RefusedURL", "StaticOnlyFetcher", "certificate_html", "certificate_pdf"]


def verification_url(code: str) -> str:
    return settings.WARDEN_BASE_URL.rstrip("/") + reverse("training_certificate_verify", args=[code])


def certificate_html(completion: Completion) -> str:
    standing = completion_standing(completion)
    return render_to_string("training/certificate_pdf.html", {
        "completion": completion,
        "person": completion.user.get_full_name() or completion.user.get_username(),
        "module": completion.module,
        "standing": standing,
        "verify_url": verification_url(completion.certificate_code),
        "issued_on": timezone.localtime(completion.completed_at),
        "expires_on": timezone.localtime(completion.expires_at),
    })


def certificate_pdf(completion: Completion) -> bytes:
    fetcher = StaticOnlyFetcher()
    return HTML(string=certificate_html(completion), url_fetcher=fetcher).write_pdf()
