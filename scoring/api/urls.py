from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring.api.batch import (
    BatchJobCancelApi,
    BatchJobDetailApi,
    BatchJobListApi,
    BatchJobRejectsApi,
    BatchJobResultApi,
)
from scoring.api.review import DecisionContestApi, DecisionNoticeApi, WebhookListApi
from scoring.api.views import ClientViewSet, DecisionViewSet, ModelVersionViewSet, ScoreApi, ScoreBatchApi

router = SimpleRouter(trailing_slash=True)
router.register("clients", ClientViewSet, basename="client")
router.register("predictions", DecisionViewSet, basename="prediction")
router.register("models", ModelVersionViewSet, basename="modelversion")

urlpatterns = [
    path("score", ScoreApi.as_view(), name="score"),
    path("score/batch", ScoreBatchApi.as_view(), name="score-batch"),
    path("score/batch-jobs", BatchJobListApi.as_view(), name="batch-job-list"),
    path("score/batch-jobs/<uuid:pk>", BatchJobDetailApi.as_view(), name="batch-job-detail"),
    path("score/batch-jobs/<uuid:pk>/cancel", BatchJobCancelApi.as_view(), name="batch-job-cancel"),
    path("score/batch-jobs/<uuid:pk>/result", BatchJobResultApi.as_view(), name="batch-job-result"),
    path("score/batch-jobs/<uuid:pk>/rejects", BatchJobRejectsApi.as_view(), name="batch-job-rejects"),
    path("predictions/<uuid:pk>/notice", DecisionNoticeApi.as_view(), name="prediction-notice"),
    path("predictions/<uuid:pk>/contest", DecisionContestApi.as_view(), name="prediction-contest"),
    path("webhooks", WebhookListApi.as_view(), name="webhook-list"),
    *router.urls,
]
