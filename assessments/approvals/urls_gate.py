"""The gate under /api/gate/, included first by governance/urls.py.

Pipelines and admission controllers call it more than anything else, and Django tries URL patterns in
order: behind the app's other patterns, resolving the path took a fifth of a cached answer's time.
"""

from django.urls import path

from assessments.approvals import api

urlpatterns = [
    path("", api.GateView.as_view(), name="api_gate"),
    path("jwks/", api.GateKeysView.as_view(), name="api_gate_jwks"),
]
