from rest_framework.routers import SimpleRouter

from scoring.api.views import ClientViewSet

router = SimpleRouter(trailing_slash=True)
router.register("clients", ClientViewSet, basename="client")

urlpatterns = router.urls
