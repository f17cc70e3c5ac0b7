from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from callcenter import api, views
from monitoring import views as monitoring_views
from monitoring.webhooks import livekit_webhook
from recordings.views import recording_audio

admin.site.site_header = "Call center"
admin.site.site_title = "Call center admin"

router = SimpleRouter()
router.register("calls", api.CallViewSet, basename="call")

urlpatterns = [
    path("", views.call_page, name="call"),
    path("healthz", views.healthz, name="healthz"),
    path("api/", include(router.urls)),
    path("monitor/", monitoring_views.monitor_page, name="monitor"),
    path("livekit/webhook/", livekit_webhook, name="livekit-webhook"),
    path("recordings/<int:pk>/audio", recording_audio, name="recording-audio"),
    path("admin/", admin.site.urls),
]
