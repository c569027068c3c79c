"""What every PDF Warden renders shares: a URL fetcher that serves only the app's own static files.

WeasyPrint would fetch any URL a document names (http, https, file, data...). Documents made from
user content (certificates, evidence packs) must not reach the network or the file system, so their
fetcher serves only the app's static files, found through Django's staticfiles finders and named
``warden-static:<path>``, and refuses everything else. What it refused is kept on the fetcher, so a
caller or a test can see that an injected ``file:///etc/passwd`` was asked for and not served.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.contrib.staticfiles import finders
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_SCHEME = "warden-static:"


class RefusedURL(ValueError):
    pass


class StaticOnlyFetcher(URLFetcher):
    """Serves ``warden-static:<relative path>`` from the staticfiles finders; refuses anything else."""

    def __init__(self):
        super().__init__(allowed_protocols=["warden-static"], allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if not url.startswith(STATIC_SCHEME):
            self.refused.append(url)
            raise RefusedURL(f"PDF rendering fetches only the app's static files, not {url[:80]}")
        relative = url[len(STATIC_SCHEME):].lstrip("/")
        if not relative or ".." in Path(relative).parts or "\\" in relative:
            self.refused.append(url)
            raise RefusedURL(f"bad static path {relative[:80]!r}")
        found = finders.find(relative)
        if not found:
            self.refused.append(url)
            raise RefusedURL(f"no static file {relative[:80]!r}")
        media_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=Path(found).read_bytes(), headers={"Content-Type": media_type})
