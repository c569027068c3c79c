"""Approvals of model versions and the deployment gate (issue 8).

* ``policy``: what each risk tier requires (sign-offs, evaluations, monitoring thresholds), as data that
  settings may override;
* ``checks``: the preconditions Warden verifies itself, each with a link to what fixes it;
* ``services``: the lifecycle transitions (submit, sign off, reject, deploy, retire, rollback), audited;
* ``gate``: the allow/deny answer for an artifact's SHA-256, signed as a JWS (``signing``).
"""
