"""URL configuration. Canonical API paths live under /api/v1/; /score and /fraude also
answer at the root, exactly where the seed clients call them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from accounts.oidc import admin_logout
from creditplatform.admin_navigation import sidebar_search
from creditplatform.api.schema import SchemaView
from fraud.api.views import SeedFraudeApi
from governance.views import model_card_view
from monitoring.api.views import metrics_view
from scoring.api.views import SeedScoreApi

api_v1 = [
    path("", include("scoring.api.urls")),
    path("", include("fraud.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("governance.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Seed clients call the decision endpoints at the root; the answers there also carry the
    # seed's own fields (score/message, risque/alert/message). New integrations use /api/v1/.
    path("score", SeedScoreApi.as_view(), name="score-root"),
    path("fraude", SeedFraudeApi.as_view(), name="fraude-root"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # Swagger UI's start-up code comes as a script file (?script), not inline: see the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("metrics", metrics_view, name="metrics"),
    # Before the admin's own: logging out of an OIDC login also ends it at the provider.
    path("admin/logout/", admin_logout, name="admin_logout"),
    # A registry version's model card (governance), in the admin's frame and login.
    path("admin/governance/model-card/<int:pk>/", admin.site.admin_view(model_card_view), name="model-card"),
    # Before the admin's own: the sidebar search, where a page number that is not one is a 404.
    path("admin/search/", admin.site.admin_view(sidebar_search), name="admin-search"),
    path("admin/", admin.site.urls),
    # OpenID Connect login (/oidc/authenticate/, /oidc/callback/); 404 while not configured.
    path("oidc/", include("mozilla_django_oidc.urls")),
]

admin.site.site_header = "Credit decision platform"
admin.site.site_title = "Credit decision platform"
admin.site.index_title = "Back office"
# The front page adds, for compliance officers, the GDPR requests due soon or overdue.
admin.site.index_template = "admin/credit_index.html"
# No bulk delete anywhere: a person's data goes only through a GDPR erasure, evidence never.
admin.site.disable_action("delete_selected")
