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

from assessments.approvals import gate, signing
from governance.api.authentication import API_AUTHENTICATION
from governance.api.views import READ_ERRORS, ErrorSerializer


class GateView(APIView):
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
        answer = gate.signed_gate_answer(sha256=sha256, user=request.user)
        return Response(answer, headers={"Cache-Control": "no-store"})


class GateKeysView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    @extend_schema(tags=["gate"], summary="The public keys that verify gate answers (JWKS)",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON Web Key Set.")})
    def get(self, request):
        return Response(signing.jwks(), content_type="application/jwk-set+json",
                        headers={"Cache-Control": "public, max-age=300"})
