"""The OpenAPI schema and the API documentation pages: public, valid, and served without a CDN."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

EXPECTED_PATHS = {
    "/api/business-units/": {"get"},
    "/api/runs/": {"get", "post"},
    "/api/runs/external/": {"post"},
    "/api/runs/{id}/": {"get"},
    "/api/runs/{id}/report/": {"get"},
    "/api/runs/{id}/cancel/": {"post"},
    "/api/runs/{id}/rerun/": {"post"},
    "/api/gate/": {"get"},
    "/api/gate/jwks/": {"get"},
    "/api/models/{id}/versions/{vid}/lifecycle/": {"get", "post"},
    "/api/monitoring/versions/{vid}/windows/": {"get", "post"},
    "/api/monitoring/windows/{id}/labels/": {"post"},
    "/api/models/": {"get", "post"},
    "/api/models/{id}/": {"get", "patch"},
    "/api/models/{id}/versions/": {"get", "post"},
    "/api/models/{id}/versions/{vid}/": {"get"},
    "/api/models/{id}/versions/{vid}/artifact/": {"get"},
    "/api/datasets/": {"get", "post"},
    "/api/datasets/{id}/": {"get", "patch"},
    "/api/datasets/{id}/versions/": {"get", "post"},
    "/api/datasets/{id}/versions/{vid}/": {"get"},
    "/api/datasets/{id}/versions/{vid}/file/": {"get"},
    "/api/datasets/{id}/versions/{vid}/deidentify/": {"post"},
    "/api/deidentification-jobs/{job_id}/": {"get"},
    "/api/packs/": {"get", "post"},
    "/api/packs/{pack_id}/": {"get"},
    "/api/packs/{pack_id}/download/": {"get"},
}


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_schema_is_public_and_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema


def test_the_schema_is_served_as_yaml_by_default(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_the_schema_lists_every_endpoint_and_method(schema):
    documented = {
        path: {method for method in operations if method in {"get", "post", "patch", "put", "delete"}}
        for path, operations in schema["paths"].items()
    }
    assert documented == EXPECTED_PATHS


def test_every_operation_needs_a_token_or_a_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in PUBLIC_PATHS:
                assert operation["security"] == [{}], (path, method)
                continue
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}], (path, method)


# Public on purpose: the gate's public key set, so pipelines verify kept answers without credentials.
PUBLIC_PATHS = {"/api/gate/jwks/"}


def test_uploads_are_documented_as_multipart_with_binary_files(schema):
    for path, file_field in (
        ("/api/models/{id}/versions/", "artifact"),
        ("/api/datasets/{id}/versions/", "file"),
    ):
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"multipart/form-data"}
        ref = content["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
        properties = schema["components"]["schemas"][ref]["properties"]
        assert properties[file_field] == {**properties[file_field], "type": "string", "format": "binary"}


def test_downloads_are_documented_as_binary(schema):
    for path in ("/api/models/{id}/versions/{vid}/artifact/", "/api/datasets/{id}/versions/{vid}/file/"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert content["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}


def test_errors_are_documented_in_the_api_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "fields"}
    responses = schema["paths"]["/api/models/"]["post"]["responses"]
    assert {"400", "401", "403"} <= set(responses)


def test_list_filters_are_documented(schema):
    names = {parameter["name"] for parameter in schema["paths"]["/api/models/"]["get"]["parameters"]}
    assert {"search", "business_unit", "risk_tier", "lifecycle_stage", "page", "page_size"} <= names


def test_the_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns any warning drf-spectacular has about our views into an error.
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.")


def test_the_docs_page_is_public_and_loads_nothing_from_outside(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert sources, html
    assert not [source for source in sources if re.match(r"(https?:)?//", source)], sources
    assert "cdn" not in html.lower()
    # The Content Security Policy forbids inline scripts: every script is a file of our own.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts), scripts
    start_up = APIClient().get("/api/docs/?script")
    assert start_up.status_code == 200
    assert "SwaggerUIBundle" in start_up.content.decode()
    assert "/api/schema/" in start_up.content.decode()


def test_the_vendored_swagger_files_are_installed():
    for asset in (
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
    ):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset
