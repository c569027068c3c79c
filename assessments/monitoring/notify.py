"""Telling people about an alert: an e-mail to the model's owner and risk managers, and a signed webhook.

The webhook body is JSON; the receiver checks ``X-Warden-Signature: sha256=<hex>``, an HMAC-SHA256
under ``WARDEN_ALERT_WEBHOOK_SECRET`` of ``<X-Warden-Timestamp>.<body>`` (the timestamp is signed too,
so an old delivery replayed later can be refused by its age). ``verify_webhook`` is the receiver's
check, written out once here and used by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from assessments.models import MonitoringAlert
from governance.models import BusinessUnit, Role, RoleGrant

WEBHOOK_TIMEOUT = 10
MAX_WEBHOOK_AGE = 300


def alert_payload(alert: MonitoringAlert) -> dict:
    version = alert.model_version
    base = settings.WARDEN_BASE_URL.rstrip("/")
    return {
        "event": "monitoring.alert", "id": alert.pk, "kind": alert.kind, "metric": alert.metric,
        "value": alert.value, "threshold": alert.threshold, "message": alert.message,
        "created_at": alert.created_at.isoformat(),
        "model": {"id": version.model_id, "name": version.model.name, "risk_tier": version.model.risk_tier},
        "version": {"id": version.pk, "version": version.version, "sha256": version.artifact_sha256},
        "window": {"start": alert.window.window_start.isoformat(), "end": alert.window.window_end.isoformat()},
        "risk_url": base + reverse("risk_detail", args=[alert.risk_id]) if alert.risk_id else None,
        "monitoring_url": base + reverse("version_monitoring", args=[version.model_id, version.pk]),
    }


def sign_webhook(body: bytes, timestamp: str, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(body: bytes, timestamp: str, signature: str, secret: str, *, now: float | None = None) -> bool:
    try:
        age = (now if now is not None else time.time()) - int(timestamp)
    except ValueError:
        return False
    return abs(age) <= MAX_WEBHOOK_AGE and hmac.compare_digest(sign_webhook(body, timestamp, secret), signature)


def recipients(alert: MonitoringAlert) -> list[str]:
    model = alert.model_version.model
    parents = dict(BusinessUnit.objects.values_list("id", "parent_id"))
    units, current = set(), model.business_unit_id
    while current is not None and current not in units:
        units.add(current)
        current = parents.get(current)
    emails = {model.owner.email} | set(
        RoleGrant.objects.filter(role=Role.RISK_MANAGER, business_unit_id__in=units, user__is_active=True)
        .values_list("user__email", flat=True))
    return sorted(email for email in emails if email)


def send_alert_email(alert: MonitoringAlert) -> bool:
    to = recipients(alert)
    if not to:
        return False
    payload = alert_payload(alert)
    lines = [alert.message, "", f"Window: {payload['window']['start']} to {payload['window']['end']}",
             f"Monitoring: {payload['monitoring_url']}"]
    if payload["risk_url"]:
        lines.append(f"Triage the risk it opened: {payload['risk_url']}")
    send_mail(subject=f"[Warden] {alert.get_kind_display()}: {alert.model_version}"[:200], message="\n".join(lines),
              from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=to)
    return True


def post_webhook(alert: MonitoringAlert) -> None:
    """POST the signed payload; raises OSError (incl. HTTP errors) for the task to retry."""
    url = settings.WARDEN_ALERT_WEBHOOK_URL
    if not url.startswith(("https://", "http://")):
        raise ValueError("WARDEN_ALERT_WEBHOOK_URL must be an http(s) URL")
    body = json.dumps(alert_payload(alert), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - scheme checked above
        "Content-Type": "application/json", "User-Agent": "Warden-Alerts/1", "X-Warden-Event": "monitoring.alert",
        "X-Warden-Timestamp": timestamp,
        "X-Warden-Signature": sign_webhook(body, timestamp, settings.WARDEN_ALERT_WEBHOOK_SECRET),
    })
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)
