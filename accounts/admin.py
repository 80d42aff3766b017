"""Admin for API keys (create: the plain key is shown once, on a page of its own; revoke), OIDC
identities, users and login lockouts."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from accounts.actors import acting_user
from accounts.models import ApiKey, ApiKeyScope, OidcIdentity
from accounts.services import (
    api_key_check,
    api_key_create,
    api_key_revoke,
    api_key_update,
    group_permissions_changed,
    login_lockout_clear,
    user_access_changed,
    user_access_state,
    user_password_set_check,
    user_password_set_record,
    user_roles_change_check,
    user_status_change_check,
)
from creditplatform.admin_mixins import EvidenceAdminMixin, PlatformModelAdmin

_ISSUED_KEY_ATTR = "_credit_issued_api_key"


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=UnfoldAdminCheckboxSelectMultipleWidget, required=False
    )

    class Meta:
        model = ApiKey
        fields = ["name", "role", "scopes", "expires_at"]

    def clean(self) -> dict[str, Any]:
        """The service's rules, shown on their fields (``save_model`` would otherwise raise them: a 500)."""
        data = super().clean() or {}
        if self.errors:
            return data  # a field already refused: its own message says why
        try:
            api_key_check(
                name=data.get("name", ""),
                role=data.get("role", ""),
                scopes=data.get("scopes"),
                expires_at=data.get("expires_at"),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


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

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # decisions name their key (apikey:<prefix>): revoke instead

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            api_key_update(api_key=obj, name=obj.name, expires_at=obj.expires_at, by=acting_user(request.user))
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
        # Kept on this request object only, for response_add: never in a message (the
        # messages cookie), the session, the database or a log.
        setattr(request, _ISSUED_KEY_ATTR, issued.plain_key)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """The new key, shown once in the answer to the form's POST (no redirect that could carry it)."""
        plain_key = getattr(request, _ISSUED_KEY_ATTR, None)
        if plain_key is None:
            return super().response_add(request, obj, post_url_continue)
        delattr(request, _ISSUED_KEY_ATTR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "plain_key": plain_key,
        }
        response = TemplateResponse(request, "admin/accounts/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, by=acting_user(request.user))
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


@admin.register(OidcIdentity)
class OidcIdentityAdmin(EvidenceAdminMixin, PlatformModelAdmin):
    """Who logged in through the provider, and the roles it gave at the last login (read-only)."""

    list_display = ["subject", "issuer", "user", "roles", "last_login_at", "created_at"]
    list_filter = ["issuer", "last_login_at"]
    search_fields = ["subject", "user__username"]
    list_select_related = ["user"]


@admin.register(AccessAttempt)
class LoginLockoutAdmin(AccessAttemptAdmin, PlatformModelAdmin):
    """Failed password logins per (username, address), from django-axes; admins only.

    A row whose failures reached ``LOGIN_FAILURE_LIMIT`` is a lockout ("Locked Out" in the
    status column). "Unlock" forgets the failures at once instead of waiting for the cool-off.
    """

    list_select_related = ()  # no join: the columns shown are on the row
    actions = ["unlock"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence: read, or removed by "Unlock"

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        # The attempt's own delete page is the same unlock as the action: through the service.
        login_lockout_clear(attempts=AccessAttempt.objects.filter(pk=obj.pk), by=request.user)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        login_lockout_clear(attempts=queryset, by=request.user)  # type: ignore[arg-type]

    @admin.action(description="Unlock: forget these failed logins", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        count = login_lockout_clear(attempts=queryset, by=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{count} login lockout record(s) cleared.", messages.SUCCESS)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PlatformUserAdmin(UserAdmin, PlatformModelAdmin):  # type: ignore[misc]  # change_form_template: str (guardian) vs Optional (Django)
    """Django's user admin, minus privilege escalation.

    The admin role may manage users, but only a superuser (the break-glass account) may
    grant superuser status or individual permissions; roles are groups, and for people who
    log in through OIDC the provider's groups overwrite them at every login. Whose roles
    and passwords an admin may change is ``accounts.services``'s rule (``user_roles_change_check``,
    ``user_status_change_check``, ``user_password_set_check``): not their own roles, not the admin
    and compliance roles, not the active or staff flag nor the password of an admin or a compliance officer.
    """

    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "is_staff", "is_superuser", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    list_select_related = ()  # no join: the columns shown are on the row

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions", "last_login", "date_joined"]
            if obj is not None and obj.pk == request.user.pk:
                fields.append("groups")  # one's own roles: another admin's to change
        return fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None or "groups" not in form.base_fields:
            return form
        actor, target = acting_user(request.user), obj

        class RolesCheckedForm(form):  # type: ignore[misc,valid-type]
            def clean(self) -> Any:
                data = super().clean()
                if "is_active" in self.fields and "is_staff" in self.fields:
                    try:
                        user_status_change_check(
                            actor=actor,
                            target=target,
                            is_active=bool(data.get("is_active")),
                            is_staff=bool(data.get("is_staff")),
                        )
                    except ValidationError as exc:
                        self.add_error(None, exc.messages)
                return data

            def clean_groups(self) -> Any:
                groups = self.cleaned_data["groups"]
                before = set(target.groups.values_list("name", flat=True))
                try:
                    user_roles_change_check(actor=actor, target=target, before=before, after={g.name for g in groups})
                except ValidationError as exc:
                    raise forms.ValidationError(exc.messages) from exc
                return groups

        return RolesCheckedForm

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        target = self.get_object(request, unquote(id))
        if target is None or not self.has_change_permission(request, target):
            return super().user_change_password(request, id, form_url)  # Django's 404 / 403
        try:
            user_password_set_check(actor=acting_user(request.user), target=target)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(f"../../{target.pk}/change/")
        before = target.password
        response = super().user_change_password(request, id, form_url)
        target.refresh_from_db(fields=["password"])
        if target.password != before:
            user_password_set_record(user=target, by=acting_user(request.user))
        return response

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A superuser's password or status is changed by a superuser only (else: take-over).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The state before the form's changes, read from the database (the form has set obj's fields).
        stored = type(obj).objects.filter(pk=obj.pk).first() if change else None
        request._credit_access_before = user_access_state(stored) if stored else {}  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_credit_access_before", {})
        user_access_changed(user=form.instance, before=before, by=acting_user(request.user))


admin.site.unregister(Group)


@admin.register(Group)
class PlatformGroupAdmin(GroupAdmin, PlatformModelAdmin):  # type: ignore[misc]  # change_form_template: str (guardian) vs Optional (Django)
    """The four roles (groups from a migration; their permissions follow ``accounts.roles``).

    A change of a role's permissions (superusers only) goes in the audit trail.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        request._credit_group_before = (  # type: ignore[attr-defined]
            sorted(obj.permissions.values_list("codename", flat=True)) if change else []
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        group_permissions_changed(
            group=form.instance, before=getattr(request, "_credit_group_before", []), by=acting_user(request.user)
        )
