"""Retention and erasure: reads. Whether a version is past retention is computed, never stored."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from governance import access
from governance.access import Capability
from governance.models import Dataset, DatasetVersion
from governance.models.data_protection import (
    OPEN_REQUEST_STATUSES,
    DeidentificationJob,
    ErasureItemStatus,
    ErasureRequest,
    RetentionNotice,
)

RECENTLY_ERASED = 20


def retention_due_at(version: DatasetVersion) -> datetime | None:
    """When the version's retention ends (its upload plus the dataset's retention period)."""
    days = version.dataset.retention_days
    return version.created_at + timedelta(days=days) if days else None


def versions_past_retention(*, now=None, include_held: bool = False) -> QuerySet[DatasetVersion]:
    """Versions not yet erased whose retention period has ended (and, unless ``include_held``, that no
    officer decided to keep for now). One query for the distinct periods, then one condition per
    period (there are few), which every database can index."""
    now = now or timezone.now()
    periods = sorted(set(Dataset.objects.filter(retention_days__isnull=False, retention_days__gt=0)
                         .values_list("retention_days", flat=True)))
    if not periods:
        return DatasetVersion.objects.none()
    condition = Q()
    for days in periods:
        condition |= Q(dataset__retention_days=days, created_at__lt=now - timedelta(days=days))
    due = DatasetVersion.objects.filter(condition, erased_at__isnull=True)
    if not include_held:
        due = due.exclude(retention_notice__held_until__gte=timezone.localdate(now))
    return due


def held_versions(*, user, now=None) -> list[DatasetVersion]:
    """Versions past retention that an officer of the user's units decided to keep for now."""
    today = timezone.localdate(now or timezone.now())
    return list(
        DatasetVersion.objects.filter(dataset__business_unit_id__in=officer_unit_ids(user), erased_at__isnull=True,
                                      retention_notice__held_until__gte=today)
        .select_related("dataset", "retention_notice", "retention_notice__held_by")
        .order_by("retention_notice__held_until", "pk")
    )


def officer_unit_ids(user) -> frozenset[int]:
    return access.access_profile(user).unit_ids(Capability.MANAGE_DATA_PROTECTION)


def require_officer(user) -> None:
    """Pages of data-protection officers: 403 for everyone else (the page is a role's, not an object's)."""
    if not access.access_profile(user).can(Capability.MANAGE_DATA_PROTECTION):
        raise PermissionDenied("Only data-protection officers may open this page.")


def overview(*, user, now=None) -> dict:
    """What the data-protection page shows an officer, limited to their business units."""
    now = now or timezone.now()
    units = officer_unit_ids(user)
    due = list(
        versions_past_retention(now=now).filter(dataset__business_unit_id__in=units)
        .select_related("dataset", "dataset__business_unit", "created_by", "retention_notice")
        .annotate(trained_count=Count("trained_versions", distinct=True),
                  evaluated_count=Count("evaluated_versions", distinct=True))
        .order_by("created_at", "pk")
    )
    rows = [{"version": version, "due_at": retention_due_at(version),
             "overdue_days": (now - retention_due_at(version)).days} for version in due]
    erased = list(
        DatasetVersion.objects.filter(erased_at__isnull=False, dataset__business_unit_id__in=units)
        .select_related("dataset", "erased_by").order_by("-erased_at", "-pk")[:RECENTLY_ERASED]
    )
    requests = (ErasureRequest.objects.filter(business_unit_id__in=units, status__in=OPEN_REQUEST_STATUSES)
                .annotate(open_items=Count("items", filter=Q(items__status=ErasureItemStatus.OPEN))))
    return {
        "due_rows": rows,
        "held": held_versions(user=user, now=now),
        "erased": erased,
        "open_requests": list(requests.order_by("due_at", "pk")[:10]),
        "open_request_count": requests.count(),
        "today": timezone.localdate(),
    }


def visible_erasure_requests(user) -> QuerySet[ErasureRequest]:
    """Officers see their units' requests; auditors read them (without the subject's details)."""
    profile = access.access_profile(user)
    units = profile.unit_ids(Capability.MANAGE_DATA_PROTECTION) | profile.unit_ids(Capability.VIEW_AUDIT)
    return ErasureRequest.objects.filter(business_unit_id__in=units)


def can_handle_request(user, request: ErasureRequest) -> bool:
    return access.access_profile(user).can(Capability.MANAGE_DATA_PROTECTION, request.business_unit_id)


def get_erasure_request_for_user(user, pk, *, write: bool = False) -> ErasureRequest:
    try:
        request = visible_erasure_requests(user).select_related("business_unit", "created_by", "closed_by").get(pk=pk)
    except (ErasureRequest.DoesNotExist, ValueError, TypeError):
        raise Http404("No such erasure request") from None
    if write and not can_handle_request(user, request):
        raise PermissionDenied("You may read this erasure request but not work on it.")
    return request


def erasure_request_list(*, user, status: str = "") -> QuerySet[ErasureRequest]:
    queryset = (visible_erasure_requests(user).select_related("business_unit")
                .annotate(item_count=Count("items"),
                          open_items=Count("items", filter=Q(items__status=ErasureItemStatus.OPEN))))
    if status == "open":
        queryset = queryset.filter(status__in=OPEN_REQUEST_STATUSES)
    elif status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("due_at", "-pk") if status == "open" else queryset.order_by("-received_at", "-pk")


def erasable_versions(user) -> QuerySet[DatasetVersion]:
    """Versions an officer may list on a request: in their units, not erased."""
    return (DatasetVersion.objects.filter(dataset__business_unit_id__in=officer_unit_ids(user),
                                          erased_at__isnull=True)
            .select_related("dataset").order_by("dataset__name", "-created_at"))


def dataset_panel(*, user, dataset: Dataset, versions) -> dict:
    """The data-protection panel on a dataset page: retention per version, tombstones, copies."""
    now = timezone.now()
    profile = access.access_profile(user)
    may_erase = profile.can(Capability.MANAGE_DATA_PROTECTION, dataset.business_unit_id)
    may_change = access.can_change_dataset(user, dataset)
    version_ids = [version.pk for version in versions]
    jobs = list(DeidentificationJob.objects.filter(source_version_id__in=version_ids)
                .select_related("source_version", "result_version", "created_by").order_by("-created_at")[:20])
    copies_of = {job.result_version_id: job for job in jobs if job.result_version_id}
    # A copy's own job may name a source outside this page's list (it always is this dataset's).
    for job in DeidentificationJob.objects.filter(result_version_id__in=version_ids).select_related("source_version"):
        copies_of[job.result_version_id] = job
    holds = {notice.version_id: notice for notice in RetentionNotice.objects.filter(
        version_id__in=version_ids, held_until__gte=timezone.localdate(now))}
    rows = []
    for version in versions:
        due = retention_due_at(version)
        rows.append({
            "version": version, "due_at": due,
            "past_retention": bool(due and due <= now and version.erased_at is None),
            "hold": holds.get(version.pk),
            "copy_of": copies_of.get(version.pk),
        })
    return {
        "dataset": dataset, "rows": rows, "jobs": [job for job in jobs if job.is_active or job.status == "failed"][:5],
        "may_erase": may_erase, "may_change": may_change,
        "polling": any(job.is_active for job in jobs),
    }
