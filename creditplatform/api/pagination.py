"""Pagination shared by every list endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework import serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from creditplatform.api.filters import raise_with_every_bad_value

MAX_PAGE = 1_000_000
INVALID_CURSOR = "Invalid cursor: use the next or previous link of a page."


class StandardPagination(PageNumberPagination):
    """``?page=N&page_size=M``; ``page_size`` is clamped to 100 so nobody dumps a table.

    A ``page`` or ``page_size`` that is not a positive whole number is a 400 naming it (DRF
    would answer 404 for the page and silently ignore the size); a page past the last one is
    a 404, as in DRF.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except serializers.ValidationError as exc:
            raise_with_every_bad_value(exc, request, queryset, view)

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

    def check_query_params(
        self, request: Request, queryset: QuerySet[Any], view: Any, collect: Callable[..., None]
    ) -> None:
        """Run the checks of ``page`` and ``page_size``, each through ``collect`` (which keeps its 400)."""
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw not in self.last_page_strings:
            collect(_positive_whole_number, raw, self.page_query_param, MAX_PAGE)
        collect(self.get_page_size, request)


def _positive_whole_number(raw: str, name: str, maximum: int | None) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise serializers.ValidationError({name: ["A positive whole number is required."]})
    value = int(raw)
    if maximum is not None and value > maximum:
        raise serializers.ValidationError({name: [f"At most {maximum:,}."]})
    return value


def _storable(field: Any, raw: str) -> Any:
    """``raw`` as a value ``field``'s column can hold, else ``ValueError``/``ValidationError``.

    A cursor comes back from the client, so it may name a position no row can have: a
    decimal with more digits than the column (``1e-999999`` overflows PostgreSQL's numeric
    and the query fails), a float ``nan``/``inf`` (compares to nothing: a silently empty
    page), an id beyond the integer's range. The field's own validators (``max_digits``,
    ``decimal_places``, integer range, ``max_length``) say what the column stores.
    """
    value = field.to_python(raw)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(raw)
    if value is not None:
        field.run_validators(value)
    return value


class KeysetPagination(CursorPagination):
    """Large lists (decisions, transactions): pages by cursor on (ordering field, id), flat at any depth.

    ``next`` and ``previous`` carry an opaque ``?cursor=``: the page after (or before) the row
    it names, found through the index on the ordering field (``WHERE (created_at, id) <
    (…)``), so the 5,000th page costs what the first does, and rows written meanwhile are
    neither skipped nor shown twice. Rows are ordered by the first ``ordering`` field, then by
    id (several decisions of a batch job share their ``created_at``).

    ``count`` stays: the exact number of matching rows up to ``COUNT_LIMIT`` (a bounded count,
    never the whole table), ``null`` beyond it. ``?page=N`` keeps the previous page-number
    pagination (with its exact count) for existing clients; it costs OFFSET, so deep pages
    get slower as the table grows.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-created_at"
    page_query_param = StandardPagination.page_query_param  # the previous pagination's, still accepted
    COUNT_LIMIT = 10_000
    cursor_query_description = "The page after (or before) a row: the opaque cursor of a `next` or `previous` link."

    def paginate_queryset(  # type: ignore[override]  # keyset pages need a QuerySet, never a list
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        try:
            return self._paginate(queryset, request, view)
        except serializers.ValidationError as exc:
            raise_with_every_bad_value(exc, request, queryset, view)

    def _paginate(self, queryset: QuerySet[Any], request: Request, view: Any) -> list[Any] | None:
        self.legacy: StandardPagination | None = None
        if request.query_params.get(self.page_query_param) is not None:
            self.legacy = StandardPagination()
            return self.legacy.paginate_queryset(queryset, request, view)
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        first = self.get_ordering(request, queryset, view)[0]
        self.field, self.descending = first.lstrip("-"), first.startswith("-")
        self.count = self._bounded_count(queryset)
        cursor = self._decode(request, queryset)
        backward = bool(cursor and cursor[2])
        walk_descending = self.descending != backward
        sign = "-" if walk_descending else ""
        queryset = queryset.order_by(f"{sign}{self.field}", f"{sign}pk")
        if cursor is not None:
            value, pk, _ = cursor
            op = "lt" if walk_descending else "gt"
            # (field, pk) beyond (value, pk): the first condition is the index range, the second the tie-break.
            queryset = queryset.filter(**{f"{self.field}__{op}e": value}).filter(
                Q(**{f"{self.field}__{op}": value}) | Q(**{f"pk__{op}": pk})
            )
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if backward:
            self.page.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, cursor is not None
        self.display_page_controls = bool(self.template and (self.has_next or self.has_previous))
        return self.page

    def get_page_size(self, request: Request) -> int:
        return StandardPagination().get_page_size(request)

    def check_query_params(
        self, request: Request, queryset: QuerySet[Any], view: Any, collect: Callable[..., None]
    ) -> None:
        """Run the checks of ``page``, ``page_size`` and ``cursor``, each through ``collect``."""
        StandardPagination().check_query_params(request, queryset, view, collect)
        if request.query_params.get(self.page_query_param) is None:
            collect(self._check_cursor, request, queryset, view)

    def _check_cursor(self, request: Request, queryset: QuerySet[Any], view: Any) -> None:
        try:
            first = self.get_ordering(request, queryset, view)[0]
        except serializers.ValidationError:
            # A bad ?ordering= (the ordering filter names it): the cursor's position cannot be read
            # against a field, but a cursor no page ever gave is named beside it.
            encoded = request.query_params.get(self.cursor_query_param)
            if encoded is not None:
                self._tokens(encoded)
            return
        self.field = first.lstrip("-")
        self._decode(request, queryset)

    def _tokens(self, encoded: str) -> dict[str, list[str]]:
        """The cursor's tokens (``p`` position, ``i`` id, ``r`` backward), or the 400 naming ``cursor``."""
        try:
            if len(encoded) > 300:
                raise ValueError(encoded)
            tokens = parse_qs(base64.urlsafe_b64decode(encoded.encode("ascii")).decode("ascii"), strict_parsing=True)
            if not (tokens.get("p") and tokens.get("i")):
                raise KeyError("p")
        except (ValueError, KeyError, UnicodeError):
            raise serializers.ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        return tokens

    def _bounded_count(self, queryset: QuerySet[Any]) -> int | None:
        counted = queryset.order_by().values("pk")[: self.COUNT_LIMIT + 1].count()
        return counted if counted <= self.COUNT_LIMIT else None

    def _position(self, row: Any, backward: bool) -> str:
        value = getattr(row, self.field)
        text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
        tokens = {"p": text, "i": str(row.pk)}
        if backward:
            tokens["r"] = "1"
        encoded = base64.urlsafe_b64encode(urlencode(tokens).encode("ascii")).decode("ascii")
        return str(replace_query_param(self.base_url or "", self.cursor_query_param, encoded))

    def _decode(self, request: Request, queryset: QuerySet[Any]) -> tuple[Any, Any, bool] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        model = queryset.model
        tokens = self._tokens(encoded)
        try:
            value = _storable(model._meta.get_field(self.field), tokens["p"][0])
            pk = _storable(model._meta.pk, tokens["i"][0])
            if isinstance(value, dt.datetime):
                if value.tzinfo is None:
                    raise ValueError(value)
                value = value.astimezone(dt.UTC)
            backward = tokens.get("r", ["0"])[0] == "1"
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError, DjangoValidationError):
            raise serializers.ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        if value is None or pk is None:
            raise serializers.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return value, pk, backward

    def get_next_link(self) -> str | None:
        return self._position(self.page[-1], backward=False) if self.has_next and self.page else None

    def get_previous_link(self) -> str | None:
        return self._position(self.page[0], backward=True) if self.has_previous and self.page else None

    def get_paginated_response(self, data: Any) -> Response:
        if self.legacy is not None:
            return self.legacy.get_paginated_response(data)
        return Response(
            {"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        described = super().get_paginated_response_schema(schema)
        described["required"] = ["count", "next", "previous", "results"]
        described["properties"] = {
            "count": {
                "type": "integer",
                "nullable": True,
                "example": 123,
                "description": f"Matching rows, exact up to {self.COUNT_LIMIT:,}; null beyond.",
            },
            **described["properties"],
        }
        return described

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        legacy = [p for p in StandardPagination().get_schema_operation_parameters(view) if p["name"] == "page"]
        for parameter in legacy:
            parameter["description"] = "Page number (previous pagination, OFFSET: prefer the cursor of `next`)."
        return [*super().get_schema_operation_parameters(view), *legacy]
