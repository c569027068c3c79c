"""The gate's decision cache: a repeated question costs no query, and nothing the gate depends on can
change without the next answer following it (each precondition, grants, tokens, users, the day)."""

import datetime as dt
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from assessments.approvals import gate, gate_cache, services, signing
from governance.models import RoleGrant
from tests.assessments.approvals.builders import make_ready, new_version, risk
from tests.assessments.approvals.test_gate import BREAKERS, GATE, approve
from tests.factories import MLModelFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_on(settings):
    settings.WARDEN_GATE_CACHE_SECONDS = 30


@pytest.fixture
def approved(ready_version, risk_manager, dpo):
    return approve(ready_version, risk_manager, dpo)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what the block changed as if its transaction committed (the test's own never does)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def ask(client, version):
    response = client.get(GATE, {"sha256": version.artifact_sha256})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_question_costs_no_query_and_still_gets_a_fresh_signed_answer(
        api_for, ml_lead, approved, django_assert_num_queries):
    client = api_for(ml_lead)
    first = ask(client, approved)
    with django_assert_num_queries(0):
        again = ask(client, approved)
    assert again["decision"] == first["decision"] == "allow"
    assert again["jti"] != first["jti"] and again["iat"] >= first["iat"]
    assert {k: v for k, v in again.items() if k not in ("iat", "jti", "jws")} == \
        {k: v for k, v in first.items() if k not in ("iat", "jti", "jws")}
    claims = signing.verify(again["jws"], signing.jwks())
    assert claims["jti"] == again["jti"] and claims["decision"] == "allow"


def test_the_cache_never_holds_the_token(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    ask(client, approved)
    key = Token.objects.get(user=ml_lead).key
    assert cache.get(gate_cache.entry_key(key, approved.artifact_sha256)) is not None
    assert key not in gate_cache.entry_key(key, approved.artifact_sha256)


@pytest.mark.parametrize("name", BREAKERS)
def test_each_precondition_alone_flips_a_cached_answer(api_for, ml_lead, approved, committed, name):
    client = api_for(ml_lead)
    assert ask(client, approved)["decision"] == "allow"
    breaker, reason = BREAKERS[name]
    with committed():
        breaker(approved)
    answer = ask(client, approved)
    assert answer["decision"] == "deny"
    assert any(reason in text for text in answer["reasons"]), answer["reasons"]


def test_the_last_sign_off_opens_a_cached_denial(api_for, ml_lead, ready_version, risk_manager, dpo, committed):
    client = api_for(ml_lead)
    with committed():
        services.version_submit(actor=ml_lead, version=ready_version)
        services.version_sign_off(actor=dpo, version=ready_version)
    assert ask(client, ready_version)["decision"] == "deny"
    with committed():
        services.version_sign_off(actor=risk_manager, version=ready_version)
    assert ask(client, ready_version)["decision"] == "allow"


def test_a_deleted_token_is_refused_at_once(api_for, ml_lead, approved, committed):
    client = api_for(ml_lead)
    ask(client, approved)
    with committed():
        Token.objects.filter(user=ml_lead).delete()
    assert client.get(GATE, {"sha256": approved.artifact_sha256}).status_code == 401


def test_a_deactivated_account_is_refused_at_once(api_for, ml_lead, approved, committed):
    client = api_for(ml_lead)
    ask(client, approved)
    with committed():
        ml_lead.is_active = False
        ml_lead.save()
    assert client.get(GATE, {"sha256": approved.artifact_sha256}).status_code == 401


def test_a_withdrawn_grant_hides_the_artifact_at_once(api_for, auditor, approved, committed):
    client = api_for(auditor)
    assert ask(client, approved)["decision"] == "allow"
    with committed():
        RoleGrant.objects.filter(user=auditor).delete()
    answer = ask(client, approved)
    assert answer["decision"] == "deny" and answer["reasons"] == [gate.UNKNOWN]


def test_each_token_has_its_own_answers(api_for, ml_lead, outsider, approved):
    assert ask(api_for(ml_lead), approved)["decision"] == "allow"
    answer = ask(api_for(outsider), approved)
    assert answer["decision"] == "deny" and answer["version"] is None


def test_training_that_falls_due_overnight_closes_the_gate_the_next_day(api_for, ml_lead, approved):
    from training.models import Assignment, AssignmentStatus, Module

    module = Module.objects.create(slug="due-today", urn="urn:test:training:due", title="Due today", summary="-")
    today = timezone.localdate()
    Assignment.objects.create(user=ml_lead, module=module, module_version=1, assigned_at=timezone.now(),
                              due_date=today, status=AssignmentStatus.ASSIGNED)
    client = api_for(ml_lead)
    assert ask(client, approved)["decision"] == "allow"
    with mock.patch.object(gate_cache.timezone, "localdate", return_value=today + dt.timedelta(days=1)), \
            mock.patch("assessments.approvals.checks.timezone.localdate", return_value=today + dt.timedelta(days=1)):
        answer = ask(client, approved)
    assert answer["decision"] == "deny" and any("Due today" in text for text in answer["reasons"])


def test_the_nightly_overdue_marking_reaches_cached_answers(api_for, ml_lead, approved, committed):
    """Marking late assignments overdue is a queryset update (no signals): it bumps the generation itself."""
    from training.models import Assignment, AssignmentStatus, Module
    from training.services.assignments import training_assignments_sync

    module = Module.objects.create(slug="late", urn="urn:test:training:late", title="Late module", summary="-")
    Assignment.objects.create(user=ml_lead, module=module, module_version=1, assigned_at=timezone.now(),
                              due_date=timezone.localdate() + dt.timedelta(days=5), status=AssignmentStatus.ASSIGNED)
    client = api_for(ml_lead)
    assert ask(client, approved)["decision"] == "allow"
    Assignment.objects.filter(module=module).update(due_date=timezone.localdate() - dt.timedelta(days=1))
    assert ask(client, approved)["decision"] == "allow"  # a change behind Django's back: the entry still stands
    with committed():
        report = training_assignments_sync(user=ml_lead)
    assert report.overdue == 1
    assert ask(client, approved)["decision"] == "deny"


def test_a_changed_approval_policy_is_not_answered_from_entries_made_under_the_old_one(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    assert ask(client, approved)["decision"] == "allow"
    with override_settings(WARDEN_APPROVAL_POLICY={"high": {"sign_offs": ["risk_manager", "dpo", "admin"]}}):
        assert ask(client, approved)["decision"] == "deny"


def test_progress_saves_do_not_empty_the_cache(approved, django_capture_on_commit_callbacks):
    from assessments.models import EvaluationRun

    run = EvaluationRun.objects.filter(model_version=approved).first()
    with django_capture_on_commit_callbacks() as callbacks:
        run.progress = 50
        run.save(update_fields=["progress", "progress_message"])
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        run.save()
    assert len(callbacks) == 1


def test_a_rolled_back_change_does_not_bump_and_a_committed_one_does(approved, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                approved.save()
                raise RuntimeError
        except RuntimeError:
            pass
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        before = cache.get(gate_cache.GENERATION_KEY) or 0
        with transaction.atomic():
            approved.save()
    assert len(callbacks) == 1 and cache.get(gate_cache.GENERATION_KEY) != before


def test_a_change_to_one_model_leaves_other_models_answers_cached(
        api_for, ml_lead, approved, retail, risk_manager, dpo, committed, django_assert_num_queries):
    other_model = MLModelFactory(name="Churn", business_unit=retail, owner=ml_lead, risk_tier="high")
    other = new_version(other_model, created_by=ml_lead)
    make_ready(other)
    approve(other, risk_manager, dpo)
    client = api_for(ml_lead)
    assert ask(client, approved)["decision"] == ask(client, other)["decision"] == "allow"
    with committed():
        risk(approved.model, level="high")
    assert ask(client, approved)["decision"] == "deny"
    with django_assert_num_queries(0):
        assert ask(client, other)["decision"] == "allow"


def test_staff_taking_training_empties_nothing(api_for, ml_lead, approved, committed, django_assert_num_queries):
    from training.models import Assignment, AssignmentStatus, Module

    staff = UserFactory(username="staff-member")
    module = Module.objects.create(slug="basics", urn="urn:test:training:b", title="Basics", summary="-")
    client = api_for(ml_lead)
    ask(client, approved)
    with committed() as callbacks:
        Assignment.objects.create(user=staff, module=module, module_version=1, assigned_at=timezone.now(),
                                  due_date=timezone.localdate(), status=AssignmentStatus.ASSIGNED)
    assert len(callbacks) == 1  # it asked which artifacts the person owns: none
    with django_assert_num_queries(0):
        ask(client, approved)


def test_a_failing_cache_answers_from_the_database(api_for, ml_lead, approved, caplog):
    client = api_for(ml_lead)
    with mock.patch.object(gate_cache.cache, "get_many", side_effect=ConnectionError("redis down")):
        answer = ask(client, approved)
    assert answer["decision"] == "allow" and "gate cache unavailable" in caplog.text


@pytest.mark.parametrize("evicted", ["whole gate", "artifact"])
def test_an_evicted_generation_never_revives_old_entries(api_for, ml_lead, approved, evicted):
    client = api_for(ml_lead)
    ask(client, approved)
    key = (gate_cache.GENERATION_KEY if evicted == "whole gate"
           else gate_cache.artifact_generation_key(approved.artifact_sha256))
    old = cache.get(key)
    cache.delete(key)
    entry, generations = gate_cache.lookup(Token.objects.get(user=ml_lead).key, approved.artifact_sha256)
    assert entry is None and old not in generations


@pytest.mark.parametrize("backend, seconds, expected", [
    ("django.core.cache.backends.locmem.LocMemCache", None, False),  # one process's memory: never shared
    ("django.core.cache.backends.redis.RedisCache", None, True),
    ("django.core.cache.backends.redis.RedisCache", 0, False),
    ("django.core.cache.backends.locmem.LocMemCache", 30, True),
])
def test_the_cache_is_on_only_where_it_is_shared_unless_set(settings, backend, seconds, expected):
    settings.WARDEN_GATE_CACHE_SECONDS = seconds
    with mock.patch.dict(settings.CACHES["default"], {"BACKEND": backend}):
        assert gate_cache.enabled() is expected


def test_a_cache_of_its_own_per_process_is_warned_about_when_turned_on_by_hand(settings):
    assert [w.id for w in gate_cache.gate_cache_check()] == ["assessments.W803"]  # locmem, 30 s (this module)
    settings.WARDEN_GATE_CACHE_SECONDS = None
    assert gate_cache.gate_cache_check() == []
    with mock.patch.dict(settings.CACHES["default"], {"BACKEND": "django.core.cache.backends.redis.RedisCache"}):
        settings.WARDEN_GATE_CACHE_SECONDS = 30
        assert gate_cache.gate_cache_check() == []


def test_session_use_is_never_cached(client, ml_lead, approved):
    client.force_login(ml_lead)
    assert client.get(GATE, {"sha256": approved.artifact_sha256}).json()["decision"] == "allow"
    assert not any(key.startswith(":1:warden:gate:answer") for key in cache._cache)  # noqa: SLF001


# --- served before the rest of the middleware -------------------------------------------------------------------

def test_the_middleware_watches_the_path_the_gate_is_mounted_at():
    from django.urls import reverse

    from assessments.approvals.middleware import GATE_PATH

    assert reverse("api_gate") == GATE_PATH


def test_a_cached_answer_carries_the_same_headers_and_touches_no_session(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    worked_out = client.get(GATE, {"sha256": approved.artifact_sha256})
    with mock.patch("django.contrib.sessions.middleware.SessionMiddleware.process_request") as session:
        cached = client.get(GATE, {"sha256": approved.artifact_sha256})
    session.assert_not_called()  # answered before the session middleware
    assert cached.status_code == worked_out.status_code == 200
    for name in ("Content-Type", "Cache-Control", "Content-Security-Policy", "X-Frame-Options",
                 "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"):
        assert cached.headers.get(name) == worked_out.headers.get(name), name
    assert cached.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Set-Cookie" not in cached.headers and "Vary" not in cached.headers


def test_the_signed_payload_is_exactly_the_served_claims_on_a_hit(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    ask(client, approved)
    response = client.get(GATE, {"sha256": approved.artifact_sha256})
    answer = response.json()
    assert set(answer) == {"iss", "sha256", "decision", "reasons", "version", "checks", "approval", "iat", "jti",
                           "jws"}
    assert signing.verify(answer["jws"], signing.jwks()) == {k: v for k, v in answer.items() if k != "jws"}


def test_a_cached_answer_is_refused_to_a_host_warden_does_not_serve(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    ask(client, approved)
    response = client.get(GATE, {"sha256": approved.artifact_sha256}, HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"jws" not in response.content


@pytest.mark.parametrize("query", [{"sha256": "nope"}, {}, {"sha256": "A" * 63}])
def test_bad_input_goes_through_to_the_view_with_the_cache_on(api_for, ml_lead, query):
    response = api_for(ml_lead).get(GATE, query)
    assert response.status_code == 400 and "sha256" in response.json()["fields"]


def test_an_entry_in_another_shape_is_a_miss_not_an_error(api_for, ml_lead, approved):
    client = api_for(ml_lead)
    ask(client, approved)
    token = Token.objects.get(user=ml_lead).key
    key = gate_cache.entry_key(token, approved.artifact_sha256)
    assert f":v{gate_cache.ENTRY_FORMAT}:" in key  # an earlier release's entries are not even looked at
    generations = cache.get(key)["generations"]
    cache.set(key, {"generations": generations, "username": "x", "decision": {"decision": "allow"}})
    assert ask(client, approved)["decision"] == "allow"
    assert set(cache.get(key)) == gate_cache.ENTRY_FIELDS  # worked out again and kept in today's shape
