"""``manage.py gate --sha256 HASH``: the deployment gate for pipelines that run beside Warden.

Exit status 0 when the artifact may be deployed, 1 when it may not (also for an unknown or malformed
hash). Prints the decision and the reasons; ``--json`` prints the signed answer instead (the same
document as ``GET /api/gate/``), ``--jws`` only the compact JWS.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from assessments.approvals import gate


class Command(BaseCommand):
    help = "Ask the deployment gate whether the artifact with this SHA-256 may be deployed (exit 0 allow, 1 deny)."

    def add_arguments(self, parser):
        parser.add_argument("--sha256", required=True, help="the artifact's SHA-256 (64 hex digits)")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="print the signed answer as JSON")
        output.add_argument("--jws", action="store_true", help="print only the compact JWS")

    def handle(self, *args, **options):
        try:
            sha256 = gate.normalise_sha256(options["sha256"])
        except ValueError as exc:
            self.stderr.write(f"deny: {exc}")
            sys.exit(1)
        answer = gate.signed_gate_answer(sha256=sha256)
        if options["json"]:
            self.stdout.write(json.dumps(answer, indent=2, sort_keys=True))
        elif options["jws"]:
            self.stdout.write(answer["jws"])
        else:
            self.stdout.write(answer["decision"])
            for reason in answer["reasons"]:
                self.stdout.write(f"  - {reason}")
        if answer["decision"] != gate.ALLOW:
            sys.exit(1)
