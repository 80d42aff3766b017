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
