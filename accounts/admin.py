"""Admin for API keys (create: the plain key is shown once; revoke), OIDC identities and users."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from accounts.models import ApiKey, ApiKeyScope, OidcIdentity
from accounts.services import api_key_create, api_key_revoke
from creditplatform.admin_mixins import (
    EvidenceAdminMixin,
    PlatformModelAdmin,
)


class ApiKeyCreationForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=UnfoldAdminCheckboxSelectMultipleWidget, required=False
    )

    class Meta:
        model = ApiKey
        fields = ["name", "role", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(PlatformModelAdmin):
    list_display = ["name", "prefix", "role", "scopes", "expires_at", "revoked_at", "last_used_at", "created_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix"]
    list_select_related = ["created_by"]
    readonly_fields = ["prefix", "created_by", "created_at", "revoked_at", "last_used_at"]
    actions = ["revoke_keys"]

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # The secret cannot change; a key is only renamed, re-dated or revoked.
        if obj is not None:
            return [*self.readonly_fields, "role", "scopes"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_key_create(
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        messages.warning(
            request,
            f"Copy this key now, it will not be shown again: {issued.plain_key}",
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


@admin.register(OidcIdentity)
class OidcIdentityAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Who logged in through the provider, and the roles it gave at the last login (read-only)."""

    list_display = ["subject", "issuer", "user", "roles", "last_login_at", "created_at"]
    list_filter = ["issuer", "last_login_at"]
    search_fields = ["subject", "user__username"]
    list_select_related = ["user"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PlatformUserAdmin(UserAdmin, PlatformModelAdmin):
    """Django's user admin, minus privilege escalation.

    The admin role may manage users, but only a superuser (the break-glass account) may
    grant superuser status or individual permissions; roles are groups, and for people who
    log in through OIDC the provider's groups overwrite them at every login.
    """

    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "is_staff", "is_superuser", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    list_select_related: list[str] = []

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions", "last_login", "date_joined"]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A superuser's password or status is changed by a superuser only (else: take-over).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


admin.site.unregister(Group)


@admin.register(Group)
class PlatformGroupAdmin(GroupAdmin, PlatformModelAdmin):
    """The four roles (groups from a migration; their permissions follow ``accounts.roles``)."""
