from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from appointments import api as appointment_api
from appointments import views as appointment_views
from callcenter import api, history_views
from callcenter import views as call_views
from callcenter.permissions import supervisor_required
from callcenter.webhooks import livekit_webhook
from config import views
from desk import api as desk_api
from desk import views as desk_views
from monitoring import views as monitoring_views
from recordings.views import recording_audio
from telephony import views as telephony_views
from vehicles.api import VehicleViewSet

handler400 = views.bad_request

router = SimpleRouter()
router.register("calls", api.CallViewSet, basename="call")
router.register("vehicles", VehicleViewSet, basename="vehicle")
router.register("transcripts/search", api.TranscriptSearchViewSet, basename="transcript-search")
router.register("appointments", appointment_api.AppointmentViewSet, basename="appointment")
router.register("service-types", appointment_api.ServiceTypeViewSet, basename="service-type")
router.register("handoffs", desk_api.HandoffViewSet, basename="handoff")

urlpatterns = [
    path("", call_views.call_page, name="call"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include(router.urls)),
    path("monitor/", monitoring_views.monitor_page, name="monitor"),
    path("desk/", desk_views.desk_page, name="desk"),
    path("appointments/", appointment_views.appointment_book, name="appointment-book"),
    path("history/", history_views.call_history, name="history"),
    path("history/<uuid:call_id>/", history_views.call_page, name="history-call"),
    path(
        "history/<uuid:call_id>/callback",
        telephony_views.callback_from_history,
        name="history-callback",
    ),
    path(
        "history/<uuid:call_id>/flag-reviewed",
        history_views.mark_flag_reviewed,
        name="history-flag-reviewed",
    ),
    path("api/calls/<uuid:call_id>/callback/", telephony_views.callback_api, name="call-callback"),
    path("history/export/calls.csv", history_views.export_calls, name="export-calls"),
    path(
        "history/export/transcripts.csv",
        history_views.export_transcripts,
        name="export-transcripts",
    ),
    path("dashboard/", history_views.dashboard, name="dashboard"),
    path("livekit/webhook/", livekit_webhook, name="livekit-webhook"),
    path(
        "recordings/<int:pk>/audio",
        supervisor_required(recording_audio),
        name="recording-audio",
    ),
    path("admin/", admin.site.urls),
]
