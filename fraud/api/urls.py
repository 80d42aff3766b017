from django.urls import path
from rest_framework.routers import SimpleRouter

from fraud.api.views import FraudeApi, TransactionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("transactions", TransactionViewSet, basename="transaction")

urlpatterns = [
    path("fraude", FraudeApi.as_view(), name="fraude"),
    *router.urls,
]
