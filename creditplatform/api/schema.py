"""The OpenAPI document's view, and post-processing of what drf-spectacular generates."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from creditplatform.api.renderers import OrjsonRenderer


class SchemaView(SpectacularAPIView):
    """``GET /api/schema/``: drf-spectacular's view, with the API's own rules for queries and errors.

    - The API has one version (``/api/v1/``), so ``?version=`` is ignored. drf-spectacular
      copied any value into the document's ``info.version`` and into the file name of its
      ``Content-Disposition`` header, where a control character (``?version=%00``) broke the
      header: a 500, before anyone signed in.
    - An error (``?format=bogus``: 404) is the API's JSON error, not a YAML document.
    """

    def _get_version_parameter(self, request: Request) -> None:
        return None

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = OrjsonRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


BLANK = {"type": "string", "maxLength": 0}


def blank_alternatives_any_of(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """``oneOf: [<string with a pattern>, <blank>]`` becomes ``anyOf``.

    drf-spectacular describes a ``CharField(allow_blank=True)`` with a pattern as one of the
    two; when the pattern also matches "" (``[^...]*``), an empty string matches both, so a
    valid blank answer broke ``oneOf`` (found by fuzzing the schema, tests/test_api_fuzz.py).
    """

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            alternatives = node.get("oneOf")
            if isinstance(alternatives, list) and BLANK in alternatives:
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Every error of the API (creditplatform/api/exceptions.py): a stable code, a sentence, and for "
        "a 400 on input each offending field (nested fields joined with dots, list items by index)."
    ),
    "properties": {
        "error": {"type": "string", "example": "validation_error"},
        "detail": {"type": "string", "example": "Invalid input."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"age": ["Ensure this value is greater than or equal to 17."]},
        },
    },
    "required": ["error", "detail"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# What every operation of a kind may answer, besides what its view documents itself.
STANDARD_ERRORS = {
    "400": "Invalid input: `fields` names each offending field, body key or query parameter.",
    "401": "No credentials, or invalid, expired or revoked ones (`WWW-Authenticate` says which scheme).",
    "403": "Valid credentials without the role or scope the operation needs.",
    "404": "No such object, or one the caller may not see; on a list, a page past the last.",
    "406": "The `Accept` header admits no JSON.",
    "411": "A chunked body without `Content-Length`: send its length.",
    "413": "The body is larger than the API reads (`DATA_UPLOAD_MAX_MEMORY_SIZE`).",
    "415": "The body is not of the documented content type, or is compressed (`Content-Encoding`).",
    "429": "Too many requests for this caller (`Retry-After` says when to retry).",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every error answer of the API in the document: the ``Error`` shape and the statuses each
    operation can give.

    drf-spectacular documents the answers a view declares, and those had no body: a client
    generated from the document knew neither 400 (the most common answer to a bad request),
    401, 403 and 429, nor what an error looks like. Each operation now lists the standard
    statuses that apply to it (400 when it reads a body or query parameters or is a list, 401 and 403 when
    it needs credentials, 404 when its path names an object or it has pages, 411, 413 and 415 when
    it reads a body), and
    every error answer without a body of its own has the ``Error`` shape.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            parameters = [p for p in operation.get("parameters", []) if p.get("in") in ("query", "header")]
            authenticated = any(requirement for requirement in operation.get("security", [{}]))
            lists = authenticated and "{" not in path
            applies = {
                # A list refuses an unknown query parameter (KnownQueryParamsFilter), documented ones or not.
                "400": bool(operation.get("requestBody") or parameters or (method == "get" and lists)),
                "401": authenticated,
                "403": authenticated,
                "404": "{" in path or any(p.get("name") == "page" for p in parameters),
                "406": True,
                "411": bool(operation.get("requestBody")),
                "413": bool(operation.get("requestBody")),
                "415": bool(operation.get("requestBody")),
                "429": authenticated,
            }
            for code, description in STANDARD_ERRORS.items():
                if applies[code] and code not in responses:
                    responses[code] = {"description": description}
            for code, response in responses.items():
                if str(code)[0] in "45" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
            operation["responses"] = dict(sorted(responses.items()))
    return result


# Headers the API sets on its answers (monitoring.middleware, the decision views).
REQUEST_ID_HEADER = {
    "description": (
        "The request's id: the caller's own `X-Request-ID` when it is a token of 8 to 64 ASCII letters, digits "
        "and `. _ : -`, else one the platform generated. The call log and the logs carry it."
    ),
    "schema": {"type": "string"},
}
REPLAYED_HEADER = {
    "description": "`true` on an answer replayed for a retry with the same `Idempotency-Key` (or transaction id).",
    "schema": {"type": "string", "enum": ["true"]},
}
MODEL_VERSION_HEADER = {
    "description": (
        "The model version that made the decision (as `model_version` in the body); absent on a fraud check "
        "made by the rules alone."
    ),
    "schema": {"type": "string"},
}
DECISION_PATHS = ("/score", "/api/v1/score", "/api/v1/score/batch", "/fraude", "/api/v1/fraude")


def document_headers(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """The headers of the API's answers in the document: ``X-Request-ID`` on every answer, and on a
    decision's ``X-Model-Version`` and, for a replay (200), ``Idempotent-Replayed``. A client
    generated from the document otherwise never learned they exist."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, dict):
                continue
            decides = method == "post" and path in DECISION_PATHS
            for code, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers.setdefault("X-Request-ID", REQUEST_ID_HEADER)
                if decides and str(code) in ("200", "201"):
                    headers.setdefault("X-Model-Version", MODEL_VERSION_HEADER)
                if decides and str(code) == "200":
                    headers.setdefault("Idempotent-Replayed", REPLAYED_HEADER)
    return result


# Lists whose length the API bounds by a setting: (component, property) -> the setting. The
# serializers read the limit at request time (a setting may change without a code change), so
# the document takes it from the settings when it is generated.
LIST_LIMITS = {
    ("ScoreBatchInputRequest", "items"): "SCORE_BATCH_MAX_ITEMS",
    ("OutcomeImportInputRequest", "items"): "OUTCOME_IMPORT_MAX_ROWS",
}


def document_list_limits(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """``minItems``/``maxItems`` of the lists the API bounds by a setting (a batch's applicants, an
    outcome import's rows): a client generated from the document otherwise learned the limit from
    a 400."""
    from django.conf import settings

    schemas = result.get("components", {}).get("schemas", {})
    for (component, name), setting in LIST_LIMITS.items():
        prop = schemas.get(component, {}).get("properties", {}).get(name)
        if prop is not None:
            prop.update(minItems=1, maxItems=getattr(settings, setting))
    return result
