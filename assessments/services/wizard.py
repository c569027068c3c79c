"""Writes for the wizards: start an assessment, save a step, complete it, sign it off.

The engine (``assessments.wizard``) decides what a step asks and whether the answers fit; these
functions check who may act, guard against lost updates and write inside one transaction, with an
entry in the audit trail for each change.

Concurrent edits: every save names the ``revision`` it started from and fails with ``StaleRevision``
when someone saved the draft in between; nobody's answers are silently overwritten.

Sign-off: any risk manager of the model's business unit may sign off a completed assessment, the
author included. The product's journeys have one risk manager run a wizard from start to sign-off,
and small teams have only one; so the separation of duties is recorded rather than enforced: the
result notes whether the person signing off also completed it, and the report shows it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assessments.access import require_run_assessments
from assessments.models import (
    AppliedControl,
    Assessment,
    AssessmentKind,
    AssessmentStatus,
    ControlRequirement,
    Requirement,
    RequirementResult,
    ResultStatus,
    Threat,
)
from assessments.selectors.wizard import context_for, model_facts, wizard_context
from assessments.services.register import (
    EFFECTIVE_CONTROL_STATUSES,
    default_matrix,
    gap_analysis_refresh,
    requirements_mark_applicable,
    risk_create,
)
from assessments.wizard import engine
from assessments.wizard.schema import QuestionSet, QuestionSetError, load_question_set
from governance.models.audit import AuditAction
from governance.services.audit import audit_record

MOVES = ("next", "back", "stay")
SHORT_KIND = {AssessmentKind.THREAT_MODEL: "Threat model", AssessmentKind.DPIA: "DPIA"}
MAX_SIGN_OFF_NOTE = 2000


class NotEditable(ValidationError):
    """The assessment is completed or signed off: its answers can no longer change."""


class StaleRevision(ValidationError):
    """Someone else saved the draft after the caller loaded it."""


class BadStep(ValidationError):
    """The step does not exist, is hidden by the answers, or comes after a step not yet finished."""


class InvalidAnswers(ValidationError):
    """Answers that do not fit the questions; ``message_dict`` keys are question ids (or "q.item.field")."""


class Incomplete(ValidationError):
    """Completing needs every visible step answered; ``steps`` lists the ids of those that are not."""

    def __init__(self, message, steps: list[str]):
        super().__init__(message, code="incomplete")
        self.steps = steps


def question_set_for(assessment: Assessment) -> QuestionSet:
    try:
        return load_question_set(assessment.kind)
    except QuestionSetError as exc:  # a broken deployment, not bad input: say what is wrong
        raise ValidationError(f"The question set for {assessment.kind} cannot be loaded: {exc}") from exc


def _require_draft(assessment: Assessment) -> None:
    if assessment.status != AssessmentStatus.DRAFT:
        state = "signed off" if assessment.status == AssessmentStatus.SIGNED_OFF else "completed"
        raise NotEditable(f"This assessment is {state}: its answers can no longer be changed.", code="not_draft")


def _check_revision(assessment: Assessment, revision) -> None:
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise StaleRevision("The form did not say which revision of the draft it started from: reload the page.",
                            code="stale")
    if revision != assessment.revision:
        who = assessment.updated_by.get_full_name() or assessment.updated_by.get_username()
        raise StaleRevision(
            f"{who} saved this draft while you were editing it (revision {assessment.revision}; you started "
            f"from {revision}). Your answers were not saved.",
            code="stale",
        )


def _copy_back(target: Assessment, source: Assessment) -> None:
    for name in ("answers", "current_step", "revision", "status", "result", "updated_by", "updated_at",
                 "completed_at", "signed_off_by", "signed_off_at", "sign_off_note"):
        setattr(target, name, getattr(source, name))


# --- start -------------------------------------------------------------------------------------------


def assessment_start(*, actor, model, kind: str, model_version=None) -> Assessment:
    """A new draft of the wizard ``kind`` for ``model`` (and one of its versions), pre-filled from the inventory."""
    require_run_assessments(actor, model)
    if kind not in AssessmentKind.values:
        raise ValidationError({"kind": f"“{kind}” is not a kind of assessment."}, code="bad_kind")
    if model_version is not None and model_version.model_id != model.pk:
        raise ValidationError({"model_version": "That version belongs to another model."}, code="wrong_version")
    try:
        question_set = load_question_set(kind)
    except QuestionSetError as exc:
        raise ValidationError(f"The question set for {kind} cannot be loaded: {exc}") from exc
    matrix = default_matrix()
    ctx = wizard_context(matrix=matrix, facts=model_facts(model, model_version))
    answers = engine.prefill(question_set, ctx.facts, ctx)
    steps = engine.visible_steps(question_set, answers)
    title = f"{SHORT_KIND[kind]}: {model.name}" + (f" {model_version.version}" if model_version else "")
    assessment = Assessment(
        kind=kind, model=model, model_version=model_version, title=title[:200], question_set=question_set.urn,
        question_set_version=question_set.version, answers=answers,
        current_step=steps[0].id if steps else engine.REVIEW, revision=0, status=AssessmentStatus.DRAFT,
        risk_matrix=matrix, created_by=actor, updated_by=actor,
    )
    assessment.full_clean()
    with transaction.atomic():
        assessment.save()
        audit_record(actor=actor, action=AuditAction.CREATE, obj=assessment, changes={
            "kind": kind, "model": model.pk, "model_version": model_version.pk if model_version else None,
            "question_set": question_set.urn, "question_set_version": question_set.version,
            "prefilled": sorted(answers),
        })
    return assessment


# --- save a step -------------------------------------------------------------------------------------


def assessment_save_step(*, actor, assessment: Assessment, step: str, answers: dict, revision: int,
                         move: str = "next") -> Assessment:
    """Save the answers given on ``step`` and move to the next step, the previous one, or stay.

    ``answers``: question id -> answer, in the stored shapes (see ``assessments.wizard.engine``).
    Moving on needs the step's required questions answered; going back or saving a draft to leave
    keeps whatever valid answers were given. Answers to questions the answers hide are dropped.
    Raises NotEditable, StaleRevision, BadStep or InvalidAnswers (all ValidationErrors).
    """
    require_run_assessments(actor, assessment.model)
    _require_draft(assessment)
    if move not in MOVES:
        raise ValidationError({"move": f"“{move}” is not one of {', '.join(MOVES)}."}, code="bad_move")
    if not isinstance(answers, dict):
        raise InvalidAnswers({"__all__": ["The answers must be a mapping of question ids to answers."]})
    question_set = question_set_for(assessment)
    ctx = context_for(assessment)
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().select_related("updated_by").get(pk=assessment.pk)
        _require_draft(locked)
        _check_revision(locked, revision)
        stored = engine.prune(question_set, locked.answers, ctx)
        current = question_set.step(step) if isinstance(step, str) else None
        if current is None or step not in engine.reachable_step_ids(question_set, stored, ctx):
            raise BadStep({"step": f"“{str(step)[:60]}” is not a step you can answer now."}, code="bad_step")
        cleaned, errors = engine.clean_step(question_set, current, answers, stored, ctx, require=move == "next")
        if errors:
            raise InvalidAnswers(errors, code="invalid")
        own = {question.id for question in current.questions}
        merged = {key: value for key, value in stored.items() if key not in own}
        merged.update(cleaned)
        merged = engine.prune(question_set, merged, ctx)
        if move == "next":
            target = engine.next_step_id(question_set, merged, step)
        elif move == "back":
            target = engine.previous_step_id(question_set, merged, step)
        else:
            target = step
        changed = sorted(key for key in set(merged) | set(stored) if merged.get(key) != stored.get(key))
        locked.answers = merged
        locked.current_step = target
        locked.revision += 1
        locked.updated_by = actor
        locked.full_clean()
        locked.save()
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked, changes={
            "step": step, "move": move, "revision": locked.revision,
            "answers": _audited_answers(question_set, merged, changed),
        })
    _copy_back(assessment, locked)
    return locked


def _audited_answers(question_set: QuestionSet, answers: dict, changed: list[str]) -> dict:
    """What the audit trail keeps of changed answers: chosen values, but never free text, which names
    people and is kept only encrypted with the assessment (the trail is append-only and in clear)."""
    text = {question.id for step in question_set.steps for question in step.questions if question.type == "text"}
    return {key: ("(text changed)" if key in text else answers.get(key)) for key in changed}


# --- complete ----------------------------------------------------------------------------------------


def _expand(requirements: list[Requirement]) -> list[Requirement]:
    """Grouping requirements stand for their assessable descendants (as requirements_mark_applicable does)."""
    if all(r.assessable for r in requirements):
        return requirements
    tree = list(Requirement.objects.filter(framework_id__in={r.framework_id for r in requirements}))
    children: dict[int | None, list[Requirement]] = {}
    for node in tree:
        children.setdefault(node.parent_id, []).append(node)
    out, stack = {}, list(requirements)
    while stack:
        node = stack.pop()
        if node.is_deprecated:
            continue
        if node.assessable:
            out[node.pk] = node
        else:
            stack.extend(children.get(node.pk, []))
    return list(out.values())


def control_gaps(*, model, requirement_urns: list[str]) -> list[dict]:
    """Per framework, how the requirements an assessment marked stand for ``model``, and which mapped
    controls the model lacks for those not met. Five queries whatever the number of requirements."""
    from assessments.selectors.compliance import coverage

    named = list(Requirement.objects.filter(urn__in=requirement_urns).select_related("framework"))
    wanted = {r.pk: r for r in _expand(named)}
    if not wanted:
        return []
    frameworks = {r.framework_id: r.framework for r in named}
    results = {r.requirement_id: r for r in RequirementResult.objects.filter(model=model, requirement_id__in=wanted)}
    mapped: dict[int, list[tuple[str, str, int]]] = {}
    for requirement_id, control_id, ref_id, name in ControlRequirement.objects.filter(
        requirement_id__in=wanted, control__is_deprecated=False
    ).values_list("requirement_id", "control_id", "control__ref_id", "control__name").order_by("control__ref_id"):
        mapped.setdefault(requirement_id, []).append((ref_id, name, control_id))
    statuses = dict(AppliedControl.objects.filter(model=model).values_list("control_id", "status"))
    by_framework: dict[int, dict] = {}
    for requirement in sorted(wanted.values(), key=lambda r: (r.framework_id, r.order)):
        framework = frameworks.get(requirement.framework_id) or requirement.framework
        entry = by_framework.setdefault(requirement.framework_id, {
            "framework": framework.urn, "framework_id": framework.pk, "name": framework.name,
            "counts": {}, "requirements": [],
        })
        result = results.get(requirement.pk)
        status = result.status if result else ResultStatus.NOT_ASSESSED
        entry["counts"][status] = entry["counts"].get(status, 0) + 1
        if status in (ResultStatus.GAP, ResultStatus.PARTIAL, ResultStatus.NOT_ASSESSED):
            missing = [{"ref_id": ref_id, "name": name, "planned": statuses.get(control_id) == "planned"}
                       for ref_id, name, control_id in mapped.get(requirement.pk, [])
                       if statuses.get(control_id) not in EFFECTIVE_CONTROL_STATUSES]
            entry["requirements"].append({"urn": requirement.urn, "ref_id": requirement.ref_id,
                                          "name": requirement.name, "status": status, "missing_controls": missing})
    out = []
    for entry in by_framework.values():
        counts = entry["counts"]
        applicable = sum(n for status, n in counts.items() if status != ResultStatus.NOT_APPLICABLE)
        entry["coverage"] = coverage(counts, applicable)
        entry["gap_count"] = counts.get(ResultStatus.GAP, 0) + counts.get(ResultStatus.PARTIAL, 0)
        out.append(entry)
    return sorted(out, key=lambda e: e["name"])


def assessment_complete(*, actor, assessment: Assessment, revision: int | None = None) -> Assessment:
    """Finish a draft: put its risks in the register, mark the requirements its answers make applicable,
    refresh the gap analysis and store the result (outcomes, scores, control gaps per framework).

    Everything happens in one transaction: if any risk is refused, nothing is written.
    """
    require_run_assessments(actor, assessment.model)
    _require_draft(assessment)
    question_set = question_set_for(assessment)
    ctx = context_for(assessment)
    with transaction.atomic():
        locked = (Assessment.objects.select_for_update()
                  .select_related("model", "risk_matrix", "updated_by").get(pk=assessment.pk))
        _require_draft(locked)
        if revision is not None:
            _check_revision(locked, revision)
        answers = engine.prune(question_set, locked.answers, ctx)
        incomplete = engine.incomplete_steps(question_set, answers, ctx)
        if incomplete:
            titles = ", ".join(step.title for step in incomplete)
            raise Incomplete(f"Finish these steps before completing: {titles}.", [step.id for step in incomplete])
        summary = engine.summarise(question_set, answers, ctx)
        threats = {t.urn: t for t in Threat.objects.filter(urn__in={r.threat for r in summary.risks if r.threat})}
        risks = []
        for planned in summary.risks:
            risks.append(risk_create(
                actor=actor, model=locked.model, title=planned.title, matrix=locked.risk_matrix,
                inherent_likelihood=planned.likelihood, inherent_impact=planned.impact,
                threat=threats.get(planned.threat), assessment=locked, description=planned.description,
                component=planned.component[:80], lifecycle_stage=planned.stage, treatment=planned.treatment,
                treatment_note=planned.note, controls=planned.controls,
                residual_likelihood=planned.residual_likelihood, residual_impact=planned.residual_impact,
            ))
        marked = 0
        if summary.requirements:
            marked = requirements_mark_applicable(actor=actor, model=locked.model,
                                                  requirements=summary.requirements, assessment=locked)
        gap_analysis_refresh(model=locked.model)
        locked.result = {
            "question_set": {"urn": question_set.urn, "version": question_set.version},
            "traits": summary.traits,
            "scores": summary.scores,
            "outcomes": summary.outcomes,
            "risks": [{"id": risk.pk, "title": risk.title, "threat": risk.threat.urn if risk.threat_id else "",
                       "inherent_level": risk.inherent_level, "residual_level": risk.residual_level}
                      for risk in risks],
            "requirements": summary.requirements,
            "requirements_changed": marked,
            "gaps": control_gaps(model=locked.model, requirement_urns=summary.requirements),
            "completed_by_id": actor.pk,
            "completed_by": actor.get_full_name() or actor.get_username(),
        }
        locked.answers = answers
        locked.status = AssessmentStatus.COMPLETED
        locked.completed_at = timezone.now()
        locked.current_step = engine.REVIEW
        locked.revision += 1
        locked.updated_by = actor
        locked.full_clean()
        locked.save()
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked, changes={
            "status": [AssessmentStatus.DRAFT, AssessmentStatus.COMPLETED],
            "risks_created": [risk.pk for risk in risks],
            "requirements": summary.requirements,
            "outcomes": {o["id"]: o["value"] for o in summary.outcomes},
        })
    _copy_back(assessment, locked)
    return locked


# --- sign off ----------------------------------------------------------------------------------------


def assessment_sign_off(*, actor, assessment: Assessment, note: str) -> Assessment:
    """A risk manager accepts a completed assessment; ``note`` records on what terms."""
    require_run_assessments(actor, assessment.model)
    note = (note or "").replace("\r\n", "\n").strip()
    if not note:
        raise ValidationError({"note": "Say on what terms you sign this assessment off."}, code="note_required")
    if len(note) > MAX_SIGN_OFF_NOTE:
        raise ValidationError({"note": f"At most {MAX_SIGN_OFF_NOTE} characters."}, code="note_too_long")
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        if locked.status == AssessmentStatus.SIGNED_OFF:
            raise NotEditable("This assessment is already signed off.", code="signed_off")
        if locked.status != AssessmentStatus.COMPLETED:
            raise NotEditable("Complete the assessment before signing it off.", code="not_completed")
        now = timezone.now()
        locked.status = AssessmentStatus.SIGNED_OFF
        locked.signed_off_by = actor
        locked.signed_off_at = now
        locked.sign_off_note = note
        locked.result = {**locked.result, "signed_off_by_author": actor.pk == locked.result.get("completed_by_id")}
        locked.revision += 1
        locked.full_clean()
        locked.save()
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked, changes={
            "status": [AssessmentStatus.COMPLETED, AssessmentStatus.SIGNED_OFF], "note": note,
        })
    _copy_back(assessment, locked)
    return locked
