"""Cached gate answers, served before the rest of the middleware and the URL resolver run.

Pipelines and admission controllers ask ``GET /api/gate/`` more than anything else, and mostly about
artifacts they asked about before. A cached answer costs one Redis round trip, a signature and the
JSON; walking the session, CSRF, authentication, two-factor, message, CSP and lockout middleware
and resolving the URL (none of which a token-authenticated GET uses) cost about as much again.
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from assessments.approvals import gate, gate_cache

# Where the URLconf mounts the gate (assessments/api/urls.py; a test holds the two together).
GATE_PATH = "/api/gate/"

# Gate answers are JSON for pipelines: nothing in them is ever to be framed, run or loaded by a browser.
ANSWER_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def gate_response(body: bytes) -> HttpResponse:
    """A served answer (``gate.issue``), with the same headers whether it came from the cache or not."""
    return HttpResponse(body, content_type="application/json", headers=ANSWER_HEADERS)


def token_key(request) -> str | None:
    """The key of an ``Authorization: Token KEY`` header, parsed as DRF's TokenAuthentication does."""
    parts = get_authorization_header(request).split()
    if len(parts) == 2 and parts[0].lower() == TokenAuthentication.keyword.lower().encode():
        try:
            return parts[1].decode()
        except UnicodeDecodeError:
            return None  # DRF refuses it
    return None


class CachedGateAnswerMiddleware:
    """Answers a gate question from ``gate_cache`` when the same token asked about the same artifact and
    nothing the decision reads has changed since.

    Skipping authentication here grants nothing: the entry was worked out for that very token, and
    deleting the token, deactivating its user or withdrawing a grant makes it stale. Anything else (a
    miss, session use, bad input) goes on through the stack to ``GateView``; on a miss the cache
    generations read here travel with the request, so the decision the view works out is kept only if
    nothing changed in between. Placed right after SecurityMiddleware (and WhiteNoise), whose headers
    every answer still gets.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET" and request.path_info == GATE_PATH and gate_cache.enabled():
            request.get_host()  # an unknown Host header is refused (400) here too, as CommonMiddleware would
            key = token_key(request)
            try:
                sha256 = gate.normalise_sha256(request.GET.get("sha256")) if key else None
            except ValueError:
                sha256 = None  # the view answers the 400
            if sha256 is not None:
                entry, generations = gate_cache.lookup(key, sha256)
                if entry is not None:
                    return gate_response(gate.issue(entry["claims"], summary=entry["summary"],
                                                    asked_by=entry["username"]))
                request.gate_cache_pending = (key, generations)
        return self.get_response(request)
