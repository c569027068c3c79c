"""The preconditions Warden checks itself before a version may be approved (and whenever the gate is asked).

Each check answers one question about the version as it stands now and, when the answer is no, says
why in one sentence and links to the page where it is fixed. The same list is shown on the approval
panel, stored with every lifecycle transition (what the approver saw) and returned by the gate.

Every check reads at most one query, written out as SQL in ``facts`` (the reads run for every new
gate question), so the gate stays fast with thousands of versions (``bench/gate.py``).

What counts as met:

* artifact scan: the latest successful artifact scan of this version scanned exactly the SHA-256
  recorded at upload, found it intact, and found nothing critical or high (verdict "clean" or
  "warnings");
* fairness / robustness (when the tier requires them): the latest successful run's verdict is "pass",
  or "warn" where the tier accepts warnings;
* threat model / DPIA: an assessment of that kind for the model (model-wide or for this version) is
  signed off; the DPIA only when the model processes personal or health data;
* risks: no risk of the model at a blocking level (the tier's list, by default high and critical)
  is still open: its treatment is "accept" (risk accepted) or its treatment is done;
* training: none of the owner's current training assignments is overdue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.urls import reverse
from django.utils import timezone

from assessments.approvals import facts
from assessments.approvals.facts import RunRow
from assessments.approvals.policy import processes_personal_data, tier_policy
from assessments.models import AssessmentKind, AssessmentStatus, RunKind
from governance.models import ModelVersion

SCAN_ACCEPTED_VERDICTS = ("clean", "warnings")
VERDICT_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    ok: bool
    detail: str
    fix_url: str = ""
    fix_label: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _runs_url(version: ModelVersion) -> str:
    return reverse("model_detail", args=[version.model_id]) + "#runs"


def _artifact_scan_check(version: ModelVersion, run: RunRow | None) -> Check:
    title = "Clean artifact scan of this exact file"
    fix = {"fix_url": _runs_url(version), "fix_label": "Scan the artifact"}
    if run is None:
        return Check("artifact_scan", title, False, "No artifact scan of this version has finished yet.", **fix)
    summary = run.summary
    scanned = summary.get("sha256") or run.inputs.get("sha256_scanned")
    if scanned != version.artifact_sha256 or summary.get("integrity_ok") is False:
        return Check("artifact_scan", title, False,
                     f"The latest scan (run #{run.pk}) read a file whose SHA-256 differs from the one registered.",
                     **fix)
    verdict = summary.get("verdict")
    if summary.get("blocking") or verdict not in SCAN_ACCEPTED_VERDICTS:
        return Check("artifact_scan", title, False,
                     f"The latest scan (run #{run.pk}) found critical or high findings (verdict: {verdict or 'none'}).",
                     fix_url=reverse("run_detail", args=[run.pk]), fix_label="See the findings")
    return Check("artifact_scan", title, True, f"Run #{run.pk}: {verdict}, SHA-256 {scanned[:12]}… matches.",
                 fix_url=reverse("run_detail", args=[run.pk]), fix_label="See the scan")


def _evaluation_check(version: ModelVersion, kind: str, run: RunRow | None, accepted: str) -> Check:
    label = "Fairness" if kind == RunKind.FAIRNESS else "Robustness"
    wanted = "pass" if accepted == "pass" else "pass or warn"
    title = f"{label} evaluation ({wanted})"
    if run is None:
        return Check(kind, title, False, f"No {label.lower()} evaluation of this version has finished yet.",
                     fix_url=_runs_url(version), fix_label=f"Run a {label.lower()} evaluation")
    verdict = run.summary.get("verdict")
    ok = verdict in VERDICT_RANK and VERDICT_RANK[verdict] <= VERDICT_RANK[accepted]
    detail = (f"Run #{run.pk}: verdict {verdict}." if ok else
              f"The latest {label.lower()} evaluation (run #{run.pk}) has the verdict {verdict or 'none'}; "
              f"the risk tier requires {wanted}.")
    return Check(kind, title, ok, detail, fix_url=reverse("run_detail", args=[run.pk]),
                 fix_label="See the evaluation" if ok else "See what failed")


def _assessment_check(version: ModelVersion, kind: str, found: list[dict]) -> Check:
    label = "threat model" if kind == AssessmentKind.THREAT_MODEL else "DPIA"
    title = f"Signed-off {label}"
    signed = [row for row in found if row["status"] == AssessmentStatus.SIGNED_OFF]
    if signed:
        row = signed[0]
        return Check(kind, title, True, f"Signed off {timezone.localtime(row['signed_off_at']):%d %b %Y}.",
                     fix_url=reverse("assessment_report", args=[row["id"]]), fix_label=f"Read the {label}")
    completed = [row for row in found if row["status"] == AssessmentStatus.COMPLETED]
    if completed:
        return Check(kind, title, False, f"The {label} is complete but not signed off.",
                     fix_url=reverse("assessment_report", args=[completed[0]["id"]]), fix_label="Sign it off")
    if found:
        return Check(kind, title, False, f"The {label} is still a draft.",
                     fix_url=reverse("assessment_step", args=[found[0]["id"], found[0]["current_step"] or "start"])
                     if found[0]["current_step"] else reverse("assessment_list"),
                     fix_label=f"Continue the {label}")
    return Check(kind, title, False, f"No {label} has been started for this model.",
                 fix_url=reverse("assessment_start") + f"?model={version.model_id}&kind={kind}",
                 fix_label=f"Start a {label}")


def _risks_check(version: ModelVersion, levels: list[str]) -> Check:
    title = "No open " + " or ".join(reversed(levels)) + " risk without an accepted treatment"
    blocking = facts.blocking_risks(version.model_id, levels, limit=6)
    if not blocking:
        return Check("risks", title, True, "None open.", fix_url=reverse("risk_list") + f"?q={_q(version)}",
                     fix_label="See the register")
    more = "" if len(blocking) < 6 else " and more"
    names = ", ".join(f"“{name}”" for _, name in blocking[:5])
    url = (reverse("risk_detail", args=[blocking[0][0]]) if len(blocking) == 1
           else reverse("risk_list") + f"?q={_q(version)}")
    return Check("risks", title, False,
                 f"{len(blocking) if len(blocking) < 6 else '6+'} open: {names}{more}. Accept the risk or finish "
                 "its treatment.", fix_url=url, fix_label="Treat the risk" if len(blocking) == 1 else "Treat the risks")


def _q(version: ModelVersion) -> str:
    from urllib.parse import quote

    return quote(version.model.name)


def _training_check(version: ModelVersion) -> Check:
    owner = version.model.owner
    title = "The model owner's training is up to date"
    overdue = facts.overdue_training(owner.pk, timezone.localdate(), limit=5)
    url = reverse("training_person", args=[owner.pk])
    name = owner.get_full_name() or owner.get_username()
    if not overdue:
        return Check("training", title, True, f"{name} has no overdue training.", fix_url=url,
                     fix_label="See their training")
    modules = ", ".join(f"“{module}”" for module in overdue)
    return Check("training", title, False, f"{name} is overdue on {modules}.", fix_url=url,
                 fix_label="See their training")


def version_checks(version: ModelVersion) -> list[Check]:
    """Every precondition of ``version`` (its model and owner loaded with it saves queries)."""
    model = version.model
    rules = tier_policy(model.risk_tier)
    checks: list[Check] = []
    if not rules["deployable"]:
        checks.append(Check("tier", "Risk tier allows deployment", False,
                            f"Models of the {model.get_risk_tier_display().lower()} risk tier may never be deployed.",
                            fix_url=reverse("model_edit", args=[model.pk]), fix_label="Review the risk tier"))
    kinds = [RunKind.ARTIFACT_SCAN] + [kind for kind in (RunKind.FAIRNESS, RunKind.ROBUSTNESS) if rules[str(kind)]]
    latest = facts.latest_runs(version.pk, kinds)
    checks.append(_artifact_scan_check(version, latest.get(RunKind.ARTIFACT_SCAN)))
    for kind in (RunKind.FAIRNESS, RunKind.ROBUSTNESS):
        if rules[str(kind)]:
            checks.append(_evaluation_check(version, kind, latest.get(kind), rules[str(kind)]))
    wanted = []
    if rules["threat_model"]:
        wanted.append(AssessmentKind.THREAT_MODEL)
    if rules["dpia_when_personal_data"] and processes_personal_data(model):
        wanted.append(AssessmentKind.DPIA)
    if wanted:
        found = facts.assessments(model.pk, version.pk, wanted)
        for kind in wanted:
            checks.append(_assessment_check(version, kind, [row for row in found if row["kind"] == kind]))
    if rules["blocking_risk_levels"]:
        checks.append(_risks_check(version, list(rules["blocking_risk_levels"])))
    if rules["owner_training"]:
        checks.append(_training_check(version))
    return checks
