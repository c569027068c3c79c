"""Celery task for alert notifications: takes the alert's id, sends the e-mail once, posts the webhook with retries.

Registered with workers through ``assessments.tasks`` (which imports this module).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from assessments.models import DeliveryStatus, MonitoringAlert
from assessments.monitoring import notify

logger = logging.getLogger(__name__)
MAX_WEBHOOK_ATTEMPTS = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_WEBHOOK_ATTEMPTS - 1)
def notify_monitoring_alert(self, alert_id: int) -> str:
    alert = (MonitoringAlert.objects.select_related("model_version__model__owner", "window")
             .filter(pk=alert_id).first())
    if alert is None:
        return "gone"
    # Claim the e-mail with a conditional update so a redelivered task does not send it twice.
    if MonitoringAlert.objects.filter(pk=alert.pk, email_status=DeliveryStatus.PENDING).update(
            email_status=DeliveryStatus.SENT):
        try:
            if not notify.send_alert_email(alert):
                MonitoringAlert.objects.filter(pk=alert.pk).update(email_status=DeliveryStatus.NOT_CONFIGURED)
        except OSError as exc:
            logger.warning("Alert %s: e-mail failed: %s", alert.pk, exc)
            MonitoringAlert.objects.filter(pk=alert.pk).update(email_status=DeliveryStatus.FAILED)
    if alert.webhook_status in (DeliveryStatus.SENT, DeliveryStatus.NOT_CONFIGURED):
        return alert.webhook_status
    if not settings.WARDEN_ALERT_WEBHOOK_URL:
        MonitoringAlert.objects.filter(pk=alert.pk).update(webhook_status=DeliveryStatus.NOT_CONFIGURED)
        return DeliveryStatus.NOT_CONFIGURED
    attempts = alert.webhook_attempts + 1
    try:
        notify.post_webhook(alert)
    except (OSError, ValueError) as exc:
        # In-process (no broker) there is no later retry: the failure is final and shown on the page.
        final = attempts >= MAX_WEBHOOK_ATTEMPTS or isinstance(exc, ValueError) or bool(self.request.is_eager)
        MonitoringAlert.objects.filter(pk=alert.pk).update(
            webhook_attempts=attempts, webhook_error=str(exc)[:300],
            webhook_status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING)
        if final:
            return DeliveryStatus.FAILED
        raise self.retry(countdown=min(30 * 2 ** attempts, 1800)) from None
    MonitoringAlert.objects.filter(pk=alert.pk).update(webhook_attempts=attempts, webhook_status=DeliveryStatus.SENT,
                                                       webhook_error="")
    return DeliveryStatus.SENT
