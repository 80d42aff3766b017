from django.urls import path

from governance.api.views import OutcomeImportApi

urlpatterns = [
    path("outcomes", OutcomeImportApi.as_view(), name="outcome-import"),
]
