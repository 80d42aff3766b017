"""Query parameters of the list endpoints: every bad value is a 400 naming the parameter.

Fuzzing the OpenAPI schema found 500s: ``?after=0770-01-10T09:41:56+18:32`` parses in
Python, and PostgreSQL then refuses the offset (it accepts ±15:59 at most); a date near year
1 or 9999 with an offset overflows when turned into UTC. Other values were silently
ignored (an unknown ``ordering``, a non-numeric ``page_size``) or compared against columns
they can never match (an over-long id). Here each kind of parameter is checked:

- dates and times (``DateTimeFilter``): ISO 8601, a UTC offset within ±14:00 (the range of
  real time zones; the rule of ``creditplatform.api.datetimes``, which body fields share),
  and an instant between years 1 and 9999 once in UTC, which is what the database then
  receives;
- external ids (``ExternalIdFilter``) and free text (``TextFilter``): their pattern and length;
- ``ordering``, ``search``, ``page`` and ``page_size`` (``StrictOrderingFilter``,
  ``StrictSearchFilter``, ``creditplatform.api.pagination``);
- and a parameter the endpoint does not read at all (``?decison=refuse``, a typo, listed every
  decision): ``KnownQueryParamsFilter`` refuses it, naming it and the accepted ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.widgets import SuffixedMultiWidget
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter
from rest_framework.request import Request

from creditplatform.api.datetimes import UTC_OFFSET_MESSAGE, utc_offset_out_of_range
from scoring.validators import EXTERNAL_ID_MESSAGE, external_id_lookup_validator, no_control_chars

MAX_TEXT_LENGTH = 100
DATETIME_MESSAGE = "Enter an ISO 8601 date and time, e.g. 2026-01-31T09:30:00Z."


class UtcDateTimeField(forms.DateTimeField):
    """An ISO 8601 date and time (a bare date is midnight UTC), returned in UTC."""

    default_error_messages = {"invalid": DATETIME_MESSAGE}

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        text = str(value)
        if len(text) > 40 or not text.isascii() or not text.isprintable() or " " in text.strip():
            raise forms.ValidationError(DATETIME_MESSAGE, code="invalid")
        text = text.strip()
        try:
            parsed = parse_datetime(text) or (
                dt.datetime.combine(dt.date.fromisoformat(text), dt.time()) if len(text) == 10 else None
            )
        except ValueError:
            parsed = None  # a well-formed but impossible date: 2026-13-45, +24:00
        if parsed is None:
            raise forms.ValidationError(DATETIME_MESSAGE, code="invalid")
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        if utc_offset_out_of_range(parsed):
            raise forms.ValidationError(UTC_OFFSET_MESSAGE, code="offset")
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Enter a date and time between years 1 and 9999 in UTC.", code="range"
            ) from None


class DateTimeFilter(django_filters.Filter):
    """``?after=2026-01-31T09:30:00+01:00``: compared in UTC; a bad value is a 400 naming the parameter."""

    field_class = UtcDateTimeField


class _OnceEachCharField(forms.CharField):
    """A form field that says each of its messages once: the length check and the pattern of an
    external id give the same sentence ("Use 1-64 letters..."), which a value too long for both
    repeated."""

    def run_validators(self, value: Any) -> None:
        try:
            super().run_validators(value)
        except ValidationError as exc:
            raise ValidationError(list(dict.fromkeys(exc.messages))) from None


class ExternalIdFilter(django_filters.CharFilter):
    """An exact external id (``client_id``, ``transaction_id``...): its pattern, or a 400 (an erased
    client's ``erased-…`` token included: it is looked up, not sent as a new id)."""

    field_class = _OnceEachCharField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("strip", False)  # "C1001\n" is not an id, here as everywhere
        kwargs.setdefault("validators", [external_id_lookup_validator])
        kwargs.setdefault("error_messages", {"max_length": EXTERNAL_ID_MESSAGE})
        super().__init__(*args, **kwargs)


class TextFilter(django_filters.CharFilter):
    """Free text compared with a column: at most 100 characters, no control characters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_TEXT_LENGTH)
        kwargs.setdefault("validators", [no_control_chars])
        super().__init__(*args, **kwargs)


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """django-filter's backend; a bad value is reported with every other bad parameter of the request."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        try:
            return super().filter_queryset(request, queryset, view)
        except serializers.ValidationError as exc:
            raise_with_every_bad_value(exc, request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=`` with only the view's ``ordering_fields`` (DRF ignores others silently).

    A view without ``ordering_fields`` takes no ``ordering`` (``KnownQueryParamsFilter``
    refuses it): its schema documents none and the browsable API offers none (DRF would fall
    back on the serializer's fields, and a view without a ``serializer_class`` fails there).
    """

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return super().get_schema_operation_parameters(view) if getattr(view, "ordering_fields", None) else []

    def to_html(self, request: Request, queryset: QuerySet[Any], view: Any) -> str:
        return str(super().to_html(request, queryset, view)) if getattr(view, "ordering_fields", None) else ""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        try:
            return super().filter_queryset(request, queryset, view)
        except serializers.ValidationError as exc:
            raise_with_every_bad_value(exc, request, queryset, view)

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",")]
            valid = [term for term in fields if term]
            allowed = self.remove_invalid_fields(queryset, valid, view, request)
            if len(allowed) != len(fields) or len(params) > 200:
                names = sorted(item[0] for item in self.get_valid_fields(queryset, view, {"request": request}))
                raise serializers.ValidationError(
                    {self.ordering_param: [f"Order by one of: {', '.join(names)} (prefix '-' for descending)."]}
                )
            return allowed
        return self.get_default_ordering(view)


class StrictSearchFilter(SearchFilter):
    """``?search=``: at most 100 characters without control characters, on views that search.

    A view without ``search_fields`` takes no ``search`` (``KnownQueryParamsFilter`` refuses
    it) and its schema documents none.
    """

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return super().get_schema_operation_parameters(view) if getattr(view, "search_fields", None) else []

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        try:
            return super().filter_queryset(request, queryset, view)
        except serializers.ValidationError as exc:
            raise_with_every_bad_value(exc, request, queryset, view)

    def get_search_terms(self, request: Request) -> list[str]:
        value = request.query_params.get(self.search_param, "")
        if len(value) > MAX_TEXT_LENGTH:
            raise serializers.ValidationError({self.search_param: [f"At most {MAX_TEXT_LENGTH} characters."]})
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise serializers.ValidationError({self.search_param: ["Control characters are not allowed."]})
        return super().get_search_terms(request)


UNKNOWN_PARAMETER = "Unknown query parameter. Accepted: {accepted}."
REPEATED_PARAMETER = "Sent more than once: send this parameter once."
# Where a paginator keeps the names of its query parameters (DRF's three paginations and ours).
_PAGINATION_PARAMS = (
    "page_query_param",
    "page_size_query_param",
    "cursor_query_param",
    "limit_query_param",
    "offset_query_param",
)


class KnownQueryParamsFilter(BaseFilterBackend):
    """A list endpoint refuses the query parameters it does not read: a 400 naming each one.

    DRF and django-filter ignore a parameter nobody reads, so ``?decison=refuse`` (a typo)
    listed every decision. First in ``DEFAULT_FILTER_BACKENDS``: every list view runs it. Only
    lists (a viewset's ``list``, or a GET without the lookup in the path): a detail, an action
    and a POST read their own parameters. A known parameter sent twice is refused too: no
    filter reads a list of values. The same 400 also names every known parameter with a bad
    value (``known_value_errors``): ``?decison=block&page_size=0`` names both at once, not
    the typo first and the size on the next try.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if request.query_params and _lists(request, view):
            accepted = accepted_query_params(request, queryset, view)
            message = UNKNOWN_PARAMETER.format(accepted=", ".join(sorted(accepted)) or "none")
            errors = {name: [message] for name in request.query_params if name not in accepted}
            # ?decision=approve&decision=refuse: no filter reads a list, and the last value
            # alone would be used, without a word (as with a form field sent twice).
            for name in request.query_params:
                if name not in errors and len(request.query_params.getlist(name)) > 1:
                    errors[name] = [REPEATED_PARAMETER]
            if errors:
                for name, messages in known_value_errors(request, queryset, view).items():
                    errors.setdefault(name, messages)
                raise serializers.ValidationError(errors)
        return queryset


_COLLECTING = "_collecting_query_param_errors"


def raise_with_every_bad_value(
    exc: serializers.ValidationError, request: Request, queryset: QuerySet[Any], view: Any
) -> NoReturn:
    """Raise the 400 of a bad query value with the other known parameters' bad values added.

    The backends and the paginator run one after the other and the first bad value stopped
    the others: ``?decision=nope&page_size=0`` named ``decision`` only, and ``page_size``
    on the next try. Inside ``known_value_errors`` the error is raised as it is.
    """
    if getattr(request, _COLLECTING, False):
        raise exc
    raise serializers.ValidationError(known_value_errors(request, queryset, view)) from None


def known_value_errors(request: Request, queryset: QuerySet[Any], view: Any) -> dict[str, list[str]]:
    """The known parameters' bad values, as the other backends and the paginator would refuse them.

    Each check is run and its 400 collected rather than raised; nothing here reads the
    database (the querysets are built, never evaluated).
    """
    errors: dict[str, list[str]] = {}

    def collect(check: Any, *args: Any) -> None:
        try:
            check(*args)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            for name, messages in detail.items():
                listed = messages if isinstance(messages, list) else [messages]
                errors.setdefault(str(name), [str(message) for message in listed])

    setattr(request, _COLLECTING, True)
    try:
        for backend_class in getattr(view, "filter_backends", ()):
            if not issubclass(backend_class, KnownQueryParamsFilter):
                collect(backend_class().filter_queryset, request, queryset, view)
        check_query = getattr(getattr(view, "paginator", None), "check_query_params", None)
        if check_query is not None:
            collect(check_query, request, queryset, view, collect)
    finally:
        setattr(request, _COLLECTING, False)
    return errors


def _lists(request: Request, view: Any) -> bool:
    if hasattr(view, "action_map"):  # a viewset: its action says
        return getattr(view, "action", None) == "list"
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    return request.method in ("GET", "HEAD") and lookup not in getattr(view, "kwargs", {})


def accepted_query_params(request: Request, queryset: QuerySet[Any], view: Any) -> set[str]:
    """The query parameters a list view reads: its filters, ``ordering`` and ``search`` where it
    orders and searches, its paginator's, and ``format`` (content negotiation)."""
    accepted: set[str] = set()
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if isinstance(backend, DjangoFilterBackend):
            filterset_class = backend.get_filterset_class(view, queryset)
            for name, filter_ in (filterset_class.base_filters if filterset_class else {}).items():
                widget = filter_.field.widget  # a range filter reads name_min and name_max, say
                if isinstance(widget, SuffixedMultiWidget):
                    accepted.update(widget.suffixed(name, suffix) for suffix in widget.suffixes)
                else:
                    accepted.add(name)
        elif isinstance(backend, OrderingFilter):
            if getattr(view, "ordering_fields", None):
                accepted.add(backend.ordering_param)
        elif isinstance(backend, SearchFilter):
            if backend.get_search_fields(view, request):
                accepted.add(backend.search_param)
        elif not isinstance(backend, KnownQueryParamsFilter):
            accepted.update(p["name"] for p in backend.get_schema_operation_parameters(view) if p.get("in") == "query")
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        accepted.update(name for attr in _PAGINATION_PARAMS if (name := getattr(paginator, attr, None)))
    format_param = view.get_content_negotiator().settings.URL_FORMAT_OVERRIDE
    if format_param:
        accepted.add(format_param)
    return accepted
