"""Pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

MAX_PAGE = 1_000_000


class StandardPagination(PageNumberPagination):
    """``?page=N&page_size=M``; ``page_size`` is clamped to 100 so nobody dumps a table.

    A ``page`` or ``page_size`` that is not a positive whole number is a 400 naming it (DRF
    would answer 404 for the page and silently ignore the size); a page past the last one is
    a 404, as in DRF.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        _positive_whole_number(raw, self.page_query_param, MAX_PAGE)
        return raw

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return min(_positive_whole_number(raw, self.page_size_query_param, None), self.max_page_size)


def _positive_whole_number(raw: str, name: str, maximum: int | None) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise serializers.ValidationError({name: ["A positive whole number is required."]})
    value = int(raw)
    if maximum is not None and value > maximum:
        raise serializers.ValidationError({name: [f"At most {maximum:,}."]})
    return value
