"""Admin building blocks shared by the apps.

Every ``ModelAdmin`` of the project inherits ``PlatformModelAdmin`` (and every inline
``PlatformTabularInline`` / ``PlatformStackedInline``): django-unfold's theme (widgets,
list filters, dashboard components) and django-guardian's object-permission pages in one
base, so a new app only imports it::

    from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin

    @admin.register(Thing)
    class ThingAdmin(PlatformModelAdmin):
        ...
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.functional import cached_property
from guardian.admin import GuardedModelAdminMixin
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.widgets import CHECKBOX_CLASSES, FILE_CLASSES, INPUT_CLASSES, SELECT_CLASSES, TEXTAREA_CLASSES


class ThemedFormMixin:
    """Gives the plain widgets of a hand-written admin form (fields declared on the form, or
    ``Meta.widgets``) unfold's look; widgets that already carry classes are left alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if widget.attrs.get("class"):
                continue
            if isinstance(widget, forms.CheckboxInput):
                classes = CHECKBOX_CLASSES
            elif isinstance(widget, forms.Textarea):
                classes = TEXTAREA_CLASSES
            elif isinstance(widget, forms.Select) and not isinstance(widget, forms.SelectMultiple):
                classes = SELECT_CLASSES
            elif isinstance(widget, forms.FileInput):
                classes = FILE_CLASSES
            elif isinstance(widget, forms.widgets.Input):
                classes = INPUT_CLASSES
            else:
                continue
            widget.attrs["class"] = " ".join(classes)


class EvidenceAdminMixin:
    """Decisions, checks and logs are evidence: viewable, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PlatformModelAdmin(GuardedModelAdminMixin, ModelAdmin):  # type: ignore[misc]
    """unfold's ``ModelAdmin`` with guardian's object-permission pages (``<pk>/permissions/``).

    Object permissions are granted by the services that own them (taking or assigning a
    fraud alert grants its resolution); the raw pages, which could grant any permission on
    any object, are for the break-glass superuser only, as individual permissions are in
    the user admin. Everyone else gets a 403 and is not shown the link.
    """

    change_form_template = "admin/platform/change_form.html"
    # unfold: the filters open in a side sheet with a submit button (many filters per list).
    list_filter_submit = True

    def _object_permissions_allowed(self, request: HttpRequest) -> None:
        if not request.user.is_superuser:
            raise PermissionDenied

    def obj_perms_manage_view(self, request: HttpRequest, object_pk: str) -> HttpResponse:
        self._object_permissions_allowed(request)
        return super().obj_perms_manage_view(request, object_pk)  # type: ignore[no-any-return]

    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: str, user_id: str) -> HttpResponse:
        self._object_permissions_allowed(request)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)  # type: ignore[no-any-return]

    def obj_perms_manage_group_view(self, request: HttpRequest, object_pk: str, group_id: str) -> HttpResponse:
        self._object_permissions_allowed(request)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)  # type: ignore[no-any-return]

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        context["show_object_permissions"] = bool(request.user.is_superuser and context.get("original"))
        return super().render_change_form(request, context, *args, **kwargs)


class PlatformTabularInline(TabularInline):  # type: ignore[misc]
    """unfold's tabular inline (the project's one base for tabular inlines)."""


class PlatformStackedInline(StackedInline):  # type: ignore[misc]
    """unfold's stacked inline (the project's one base for stacked inlines)."""


class EstimatedCountPaginator(Paginator):
    """The admin's paginator for tables of millions of rows: never counts the whole table.

    Up to ``EXACT_UP_TO`` matching rows the count is exact (a bounded ``COUNT`` over at most
    that many rows); beyond it, on PostgreSQL, it is the planner's estimate for the same query
    (``EXPLAIN``: table statistics, no scan), so the list of 2,000,000 decisions does not read
    them all to print "2,000,000 decisions" and the number of pages.
    """

    EXACT_UP_TO = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        keys = queryset.order_by().values("pk")
        bounded = keys[: self.EXACT_UP_TO + 1].count()
        if bounded <= self.EXACT_UP_TO:
            return bounded
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return keys.count()
        sql, params = keys.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return max(int(plan[0]["Plan"]["Plan Rows"]), bounded)


class LargeTableAdminMixin:
    """Changelists of tables that grow by millions: no full count, an estimated one for the pages."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
