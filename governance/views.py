"""Admin pages of governance served outside a ModelAdmin: the model card of a registry version."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from governance.model_card import model_card, model_card_markdown
from scoring.models import ModelVersion


def model_card_view(request: HttpRequest, pk: int) -> HttpResponse:
    """``/admin/governance/model-card/<pk>/``: HTML in the admin; ``?format=md``: the Markdown file."""
    if not request.user.has_perm("scoring.view_modelversion"):
        raise PermissionDenied
    from django.contrib import admin

    version = get_object_or_404(ModelVersion.objects.select_related("activated_by"), pk=pk)
    if request.GET.get("format") == "md":
        response = HttpResponse(model_card_markdown(version), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="model-card-{version.purpose}-{version.version}.md"'
        return response
    title, sections = model_card(version)
    context = {
        **admin.site.each_context(request),
        "title": title,
        "version": version,
        "sections": sections,
        "opts": ModelVersion._meta,
    }
    return TemplateResponse(request, "admin/governance/model_card.html", context)
