"""No page reads a body longer than the largest upload: one request cannot fill the disk.

Django writes a multipart body to a temporary file before a form sees the file's size, so the
admin's upload forms (outcomes CSV, model file, batch file) used to check their limits only once
the whole body was on disk. ``RequestBodyLimitMiddleware`` refuses on ``Content-Length`` first.
"""

from __future__ import annotations

from typing import Any

from django.test.client import FakePayload, encode_multipart

BOUNDARY = "BoUnDaRy"


class CountingPayload(FakePayload):
    """The request's body as the server reads it, counting the bytes read."""

    read_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        content = super().read(size)
        self.read_bytes += len(content)
        return content


def multipart(client: Any, path: str, size: int) -> tuple[Any, CountingPayload]:
    """POST a ``size``-byte CSV file as the admin's upload forms receive it."""
    body = encode_multipart(BOUNDARY, {"file": _File(b"decision_id,defaulted\n" + b"1,false\n" * (size // 8))})
    payload = CountingPayload(body)
    environ = {
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": payload,
    }
    response = client.generic("POST", path, **environ)
    return response, payload


class _File:
    """What ``encode_multipart`` takes for a file field."""

    name = "outcomes.csv"

    def __init__(self, content: bytes) -> None:
        self.content = content

    def read(self) -> bytes:
        return self.content


def test_an_admin_upload_longer_than_any_upload_is_refused_unread(
    client: Any, user_with_role: Any, settings: Any
) -> None:
    settings.BATCH_UPLOAD_MAX_BYTES = 2_000_000  # the largest upload: 2 MB and the multipart envelope
    client.force_login(user_with_role("analyst"))
    response, payload = multipart(client, "/admin/governance/outcome/import/", 5_000_000)
    assert response.status_code == 413
    assert "larger than 2,065,536 bytes" in response.content.decode()
    assert payload.read_bytes == 0  # nothing of the megabyte was read, nothing written to disk
    # Within the limit the form reads the file and answers on it (here: the CSV's lines).
    response, payload = multipart(client, "/admin/governance/outcome/import/", 100_000)
    assert response.status_code == 200 and payload.read_bytes > 100_000
    assert "Line 2" in response.content.decode()


def test_an_api_body_longer_than_any_upload_is_a_json_413(client: Any, settings: Any) -> None:
    settings.BATCH_UPLOAD_MAX_BYTES = 2_000_000
    response, payload = multipart(client, "/api/v1/outcomes", 5_000_000)
    assert response.status_code == 413 and payload.read_bytes == 0
    assert response.json()["error"] == "payload_too_large"
    assert "larger than 2,065,536 bytes" in response.json()["detail"]
