"""The README's monitoring examples are valid reports (what a newcomer copies must work)."""

import json
import re
from pathlib import Path

from assessments.approvals.gate import normalise_sha256
from assessments.monitoring.validation import parse_labels, parse_report

README = Path(__file__).resolve().parents[3] / "README.md"


def _json_bodies() -> list[dict]:
    section = README.read_text(encoding="utf-8").split("## Approvals, the deployment gate and monitoring", 1)[1]
    section = section.split("\n## ", 1)[0]  # that section only: others have examples of their own
    return [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", section, flags=re.S)]


def test_the_readme_report_and_labels_parse():
    bodies = _json_bodies()
    (report,) = [body for body in bodies if "window_start" in body]
    (labels,) = [body for body in bodies if "labelled_count" in body]
    (deploy,) = [body for body in bodies if "action" in body]
    assert deploy["action"] == "deploy"
    parsed = parse_report(report)
    assert parsed.request_count == 12000 and set(parsed.features) == {"income", "region"}
    assert parse_labels(labels).accuracy == 0.91


def test_the_readme_gate_line_names_the_api_and_the_command():
    text = README.read_text(encoding="utf-8")
    assert '/api/gate/?sha256=$SHA' in text and "python manage.py gate --sha256" in text
    assert normalise_sha256("sha256:" + "A" * 64) == "a" * 64
