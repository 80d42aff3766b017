from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring.api.views import ClientViewSet, DecisionViewSet, ModelVersionViewSet, ScoreApi, ScoreBatchApi

router = SimpleRouter(trailing_slash=True)
router.register("clients", ClientViewSet, basename="client")
router.register("predictions", DecisionViewSet, basename="prediction")
router.register("models", ModelVersionViewSet, basename="modelversion")

urlpatterns = [
    path("score", ScoreApi.as_view(), name="score"),
    path("score/batch", ScoreBatchApi.as_view(), name="score-batch"),
    *router.urls,
]
