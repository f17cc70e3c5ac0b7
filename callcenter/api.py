"""The call API: anyone may start a call; everything else is for supervisors."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from callcenter.livekit_tokens import caller_token, listen_in_token, livekit_credentials
from callcenter.models import Call
from callcenter.permissions import CsrfProtected, IsSupervisor
from callcenter.serializers import CallStartedSerializer, CallStartSerializer, ListenInSerializer


class VoiceServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Voice calls are not available right now. Please try again later."
    default_code = "voice_unavailable"


class CallNotLive(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This call has ended; there is nothing to listen to."
    default_code = "call_not_live"


class CallStartThrottle(ScopedRateThrottle):
    """Per client address; the rate is ``settings.CALL_START_RATE``."""

    def get_rate(self) -> str:
        return settings.CALL_START_RATE


class CallViewSet(viewsets.GenericViewSet):
    """Calls. ``create`` starts one for an anonymous customer on the call page."""

    queryset = Call.objects.all()
    throttle_scope = "call_start"

    def get_permissions(self):
        if self.action == "create":
            return [AllowAny(), CsrfProtected()]
        return [IsSupervisor()]

    def get_throttles(self):
        return [CallStartThrottle()] if self.action == "create" else super().get_throttles()

    def throttled(self, request, wait):
        raise Throttled(wait, detail="Too many calls from this connection. Please wait.")

    def get_serializer_class(self):
        return CallStartSerializer

    @extend_schema(request=CallStartSerializer, responses={201: CallStartedSerializer})
    def create(self, request):
        """Start a call: the server picks the room and mints a caller token for it."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            livekit_credentials()
        except ImproperlyConfigured as exc:
            raise VoiceServiceUnavailable() from exc
        call = Call.objects.create(channel=Call.Channel.WEB)
        identity, token = caller_token(call)
        Call.objects.filter(pk=call.pk).update(caller=identity)
        answer = CallStartedSerializer.for_call(call, settings.LIVEKIT_URL, token)
        return Response(answer.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ListenInSerializer})
    @action(detail=True, methods=["post"])
    def listen(self, request, pk=None):
        """A supervisor's token to listen in: hidden, subscribe only, a few minutes."""
        call = self.get_object()
        if not call.is_live:
            raise CallNotLive()
        try:
            livekit_credentials()
        except ImproperlyConfigured as exc:
            raise VoiceServiceUnavailable() from exc
        _identity, token = listen_in_token(call, request.user)
        answer = {"call_id": call.pk, "room": call.room_name, "server_url": settings.LIVEKIT_URL}
        return Response(ListenInSerializer({**answer, "token": token}).data)
