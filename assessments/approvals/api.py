"""The gate under /api/: ``GET /api/gate/?sha256=…`` (token or session) and ``GET /api/gate/jwks/`` (public).

The JWKS is public on purpose: it holds only the public key, and a pipeline verifying an answer it
kept must not need credentials to do so.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments.approvals import gate, gate_cache, signing
from assessments.approvals.middleware import gate_response
from governance.api.authentication import API_AUTHENTICATION
from governance.api.views import READ_ERRORS, WRITE_ERRORS, ErrorSerializer


class GateView(APIView):
    """Works out a decision when ``CachedGateAnswerMiddleware`` had none cached, and keeps it for the next time."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        tags=["gate"], summary="May the artifact with this SHA-256 be deployed?",
        parameters=[OpenApiParameter("sha256", str, required=True,
                                     description="The artifact SHA-256: 64 hex digits (`sha256:` prefix allowed).")],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
                "`decision` (allow|deny), `reasons`, `version`, `checks`, `approval` (sign-offs, approved/deployed "
                "at) and `jws`: the same claims as a compact JWS signed with the key published at /api/gate/jwks/. "
                "An unknown artifact is denied.")),
            400: OpenApiResponse(ErrorSerializer, description="The sha256 parameter is missing or malformed."),
            **{401: READ_ERRORS[401]},
        },
    )
    def get(self, request):
        try:
            sha256 = gate.normalise_sha256(request.query_params.get("sha256"))
        except ValueError as exc:
            return Response({"error": str(exc), "fields": {"sha256": [str(exc)]}}, status=400)
        claims, summary = gate.encode(gate.gate_decision(sha256=sha256, user=request.user))
        username = request.user.get_username()
        pending = getattr(request, "gate_cache_pending", None)
        if pending is not None:
            token_key, generations = pending
            if getattr(request.auth, "key", None) == token_key:  # authenticated by that very token
                gate_cache.remember(token_key, sha256, generations=generations, username=username, claims=claims,
                                    summary=summary)
        return gate_response(gate.issue(claims, summary=summary, asked_by=username))


class GateKeysView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    @extend_schema(tags=["gate"], summary="The public keys that verify gate answers (JWKS)",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON Web Key Set.")})
    def get(self, request):
        return Response(signing.jwks(), content_type="application/jwk-set+json",
                        headers={"Cache-Control": "public, max-age=300"})


LIFECYCLE_ACTIONS = ("submit", "withdraw", "deploy", "retire", "rollback")


def lifecycle_json(version, request) -> dict:
    from assessments.approvals.checks import version_checks
    from assessments.approvals.policy import required_roles
    from assessments.approvals.services import current_sign_offs, missing_roles
    from assessments.models import LifecycleEvent

    sign_offs = current_sign_offs(version) if version.review_cycle else []
    return {
        "id": version.pk, "model": version.model_id, "version": version.version, "status": version.status,
        "review_cycle": version.review_cycle, "sha256": version.artifact_sha256,
        "required_sign_offs": required_roles(version.model),
        "missing_sign_offs": missing_roles(version, sign_offs),
        "sign_offs": [{"role": s.role, "decision": s.decision, "by": s.signed_by.get_username(),
                       "at": s.signed_at.isoformat(), "note": s.note} for s in sign_offs],
        "checks": [check.as_dict() | {"fix_url": request.build_absolute_uri(check.fix_url) if check.fix_url else ""}
                   for check in version_checks(version)],
        "events": [{"action": e.action, "from": e.from_status, "to": e.to_status, "at": e.at.isoformat(),
                    "by": e.actor.get_username() if e.actor else None, "reason": e.reason}
                   for e in LifecycleEvent.objects.filter(model_version=version).select_related("actor")
                   .order_by("-at", "-id")[:50]],
    }


class LifecycleView(APIView):
    """``GET`` a version's lifecycle (status, preconditions, sign-offs, history); ``POST {"action": ...}`` moves it.

    Pipelines submit a version for review and mark it deployed once they have deployed it (monitoring
    windows are accepted for deployed versions only). Sign-offs are given on the approval page only:
    by a person, signed in with their second factor where their role requires one.
    """

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def _version(self, request, pk: int, vid: int):
        from governance.access import get_model_version_for_user
        from governance.models import ModelVersion

        found = get_model_version_for_user(request.user, pk, vid)
        return ModelVersion.objects.select_related("model", "model__owner", "created_by").get(pk=found.pk)

    @extend_schema(tags=["gate"], summary="A version's lifecycle: status, preconditions, sign-offs, history",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **READ_ERRORS})
    def get(self, request, pk: int, vid: int):
        return Response(lifecycle_json(self._version(request, pk, vid), request))

    @extend_schema(
        tags=["gate"], summary="Move a version: submit, withdraw, deploy, retire or rollback",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **WRITE_ERRORS,
                   409: OpenApiResponse(ErrorSerializer, description="Not possible in the version's state, or a "
                                                                     "precondition is unmet; nothing changed.")},
    )
    def post(self, request, pk: int, vid: int):
        from django.core.exceptions import ValidationError

        from assessments.approvals import services
        from governance.models import ModelVersion

        version = self._version(request, pk, vid)
        data = request.data if isinstance(request.data, dict) else {}
        action = data.get("action")
        if action not in LIFECYCLE_ACTIONS:
            return Response({"error": f"action must be one of {', '.join(LIFECYCLE_ACTIONS)}.",
                             "fields": {"action": ["Unknown action."]}}, status=400)
        text = data.get("reason", data.get("note", ""))
        if not isinstance(text, str):
            return Response({"error": "reason must be text.", "fields": {"reason": ["Must be text."]}}, status=400)
        try:
            if action == "submit":
                services.version_submit(actor=request.user, version=version, note=text)
            elif action == "withdraw":
                services.version_withdraw(actor=request.user, version=version, reason=text)
            elif action == "deploy":
                services.version_deploy(actor=request.user, version=version, note=text)
            elif action == "retire":
                services.version_retire(actor=request.user, version=version, reason=text)
            else:
                target = None
                if data.get("target") is not None:
                    target = ModelVersion.objects.filter(pk=data["target"], model_id=version.model_id).first() \
                        if isinstance(data["target"], int) and not isinstance(data["target"], bool) else None
                    if target is None:
                        return Response({"error": "target must be the id of an earlier version of this model.",
                                         "fields": {"target": ["No such version of this model."]}}, status=400)
                services.version_rollback(actor=request.user, version=version, reason=text, target=target)
        except ValidationError as error:
            messages = (list(error.message_dict.items()) if hasattr(error, "error_dict") else [])
            fields = {name: list(msgs) for name, msgs in messages}
            code = 400 if fields else 409
            return Response({"error": " ".join(m for msgs in fields.values() for m in msgs) or " ".join(error.messages),
                             "fields": fields}, status=code)
        version.refresh_from_db()
        return Response(lifecycle_json(version, request))
