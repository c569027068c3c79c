"""What the preconditions and the gate read about one version, each read written out as plain SQL.

Why not the ORM here: these reads run for every question the gate has not answered before, and for
every approval page. Django builds a query anew each time it runs it, which costs about a
millisecond a query on our 2-core machines, two to three times what PostgreSQL takes to answer it
(``bench/gate.py``; measured with the risk read: 1.4 ms through the ORM, 0.47 ms as SQL). The
statements are short and use only what SQLite and PostgreSQL share; each is checked against the
queryset it stands for in ``tests/assessments/approvals/test_facts.py``, on both backends.

Each function returns plain rows (named tuples, dicts, lists), except ``versions_with_sha256``, which
returns model instances holding only the fields the gate reads.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from assessments.models import RunStatus, Treatment, TreatmentStatus
from governance.models import MLModel, ModelVersion

# What the gate and the checks read of a version, its model and the people on it; any other field
# is loaded on first use, as with ``.only()`` (the gate's query-count test would notice).
VERSION_FIELDS = ("id", "model_id", "version", "artifact_sha256", "status", "status_changed_at", "review_cycle",
                  "created_by_id", "created_at")
MODEL_FIELDS = ("id", "name", "owner_id", "business_unit_id", "risk_tier", "processes_personal_data",
                "processes_health_data")
PERSON_FIELDS = ("id", "username", "first_name", "last_name")


class RunRow(NamedTuple):
    pk: int
    kind: str
    summary: dict
    inputs: dict


class SignOffRow(NamedTuple):
    role: str
    decision: str
    signed_by_id: int
    username: str
    name: str
    signed_at: dt.datetime


def _rows(sql: str, params: list) -> list[tuple]:
    """Runs ``sql`` with ``params`` bound; a list or tuple in ``params`` fills an ``IN %s`` with one
    placeholder per value, so every value stays a bound parameter (an empty one matches nothing)."""
    pieces = sql.split("%s")
    if len(pieces) != len(params) + 1:
        raise ValueError("one parameter per %s")
    text, flat = pieces[0], []
    for value, piece in zip(params, pieces[1:], strict=True):
        if isinstance(value, list | tuple):
            text += "(" + (", ".join(["%s"] * len(value)) or "NULL") + ")"
            flat.extend(value)
        else:
            text += "%s"
            flat.append(value)
        text += piece
    with connection.cursor() as cursor:
        cursor.execute(text, flat)
        return cursor.fetchall()


def _json(value) -> dict:
    """JSON columns come back as text from a plain cursor on both backends (Django decodes them in the ORM)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _datetime(value) -> dt.datetime | None:
    """SQLite hands plain SQL its timestamps as text in UTC; PostgreSQL as aware datetimes."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def _loaded(model_class, values: dict):
    """An instance from the named values, the other fields deferred (``from_db`` wants them in field order)."""
    names = [field.attname for field in model_class._meta.concrete_fields if field.attname in values]
    return model_class.from_db(connection.alias, names, [values[name] for name in names])


def versions_with_sha256(sha256: str, limit: int) -> list[ModelVersion]:
    """The versions whose artifact has this SHA-256, newest first, each with its model, the model's owner
    and the person who registered it."""
    people = get_user_model()
    found = []
    for row in _rows(
        "SELECT v.id, v.model_id, v.version, v.artifact_sha256, v.status, v.status_changed_at, v.review_cycle,"
        " v.created_by_id, v.created_at,"
        " m.id, m.name, m.owner_id, m.business_unit_id, m.risk_tier, m.processes_personal_data,"
        " m.processes_health_data,"
        " o.id, o.username, o.first_name, o.last_name, c.id, c.username, c.first_name, c.last_name"
        " FROM governance_modelversion v JOIN governance_mlmodel m ON m.id = v.model_id"
        " JOIN auth_user o ON o.id = m.owner_id JOIN auth_user c ON c.id = v.created_by_id"
        " WHERE v.artifact_sha256 = %s ORDER BY v.created_at DESC, v.id DESC LIMIT %s",
        [sha256, limit],
    ):
        fields = dict(zip(VERSION_FIELDS, row[:9], strict=True))
        fields["status_changed_at"] = _datetime(fields["status_changed_at"])
        fields["created_at"] = _datetime(fields["created_at"])
        version = _loaded(ModelVersion, fields)
        fields = dict(zip(MODEL_FIELDS, row[9:16], strict=True))
        for flag in ("processes_personal_data", "processes_health_data"):
            fields[flag] = bool(fields[flag])  # SQLite answers 0 or 1
        model = _loaded(MLModel, fields)
        model.owner = _loaded(people, dict(zip(PERSON_FIELDS, row[16:20], strict=True)))
        version.model = model
        version.created_by = _loaded(people, dict(zip(PERSON_FIELDS, row[20:24], strict=True)))
        found.append(version)
    return found


def latest_runs(version_id: int, kinds: list[str]) -> dict[str, RunRow]:
    """The latest successful evaluation run of each of ``kinds`` for the version."""
    latest: dict[str, RunRow] = {}
    for pk, kind, summary, inputs in _rows(
        "SELECT id, kind, summary, inputs FROM assessments_evaluationrun"
        " WHERE model_version_id = %s AND status = %s AND kind IN %s"
        " ORDER BY finished_at DESC, id DESC",
        [version_id, RunStatus.SUCCEEDED, list(kinds)],
    ):
        if kind not in latest:
            latest[kind] = RunRow(pk, kind, _json(summary), _json(inputs))
    return latest


def assessments(model_id: int, version_id: int, kinds: list[str]) -> list[dict]:
    """The model's assessments of ``kinds`` (model-wide or for this version), signed-off ones first, newest first."""
    return [
        {"id": pk, "kind": kind, "status": status, "signed_off_at": _datetime(signed_off_at), "current_step": step}
        for pk, kind, status, signed_off_at, step in _rows(
            "SELECT id, kind, status, signed_off_at, current_step FROM assessments_assessment"
            " WHERE model_id = %s AND kind IN %s"
            " AND (model_version_id IS NULL OR model_version_id = %s)"
            " ORDER BY signed_off_at DESC, updated_at DESC, id DESC",
            [model_id, list(kinds), version_id],
        )
    ]


def blocking_risks(model_id: int, levels: list[str], limit: int) -> list[tuple[int, str]]:
    """(id, title) of the model's risks at ``levels`` neither accepted nor treated, worst first."""
    return [tuple(row) for row in _rows(
        "SELECT id, title FROM assessments_risk"
        " WHERE model_id = %s AND inherent_level IN %s"
        " AND treatment <> %s AND treatment_status <> %s"
        " ORDER BY inherent_rank DESC, id ASC LIMIT %s",
        [model_id, list(levels), Treatment.ACCEPT, TreatmentStatus.DONE, limit],
    )]


def overdue_training(user_id: int, today: dt.date, limit: int) -> list[str]:
    """Titles of the person's current training assignments that are overdue (marked so, or past due and open)."""
    from training.models import OPEN_STATUSES, AssignmentStatus

    return [title for (title,) in _rows(
        "SELECT m.title FROM training_assignment a JOIN training_module m ON m.id = a.module_id"
        " WHERE a.user_id = %s AND a.is_current = %s"
        " AND (a.status = %s OR (a.due_date < %s AND a.status IN %s))"
        " ORDER BY a.due_date ASC, a.id ASC LIMIT %s",
        [user_id, True, AssignmentStatus.OVERDUE, today, list(OPEN_STATUSES), limit],
    )]


def sign_offs(version_id: int, review_cycle: int) -> list[SignOffRow]:
    """The sign-offs given in the version's review ``review_cycle``, oldest first, with who gave them."""
    return [
        SignOffRow(role, decision, user_id, username, f"{first} {last}".strip() or username, _datetime(signed_at))
        for role, decision, user_id, username, first, last, signed_at in _rows(
            "SELECT s.role, s.decision, s.signed_by_id, u.username, u.first_name, u.last_name, s.signed_at"
            " FROM assessments_signoff s JOIN auth_user u ON u.id = s.signed_by_id"
            " WHERE s.model_version_id = %s AND s.review_cycle = %s ORDER BY s.signed_at ASC, s.id ASC",
            [version_id, review_cycle],
        )
    ]


def event_times(version_id: int, review_cycle: int, actions: list[str]) -> dict[str, dt.datetime]:
    """When each of ``actions`` last happened to the version in review ``review_cycle``."""
    return {action: _datetime(at) for action, at in _rows(
        "SELECT action, at FROM assessments_lifecycleevent"
        " WHERE model_version_id = %s AND review_cycle = %s AND action IN %s"
        " ORDER BY at ASC, id ASC",
        [version_id, review_cycle, list(actions)],
    )}
