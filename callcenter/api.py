"""The call API: anyone may start a call; everything else is for supervisors."""

import logging
import math
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    APIException,
    NotFound,
    Throttled,
    ValidationError,
)
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.utils.urls import replace_query_param

from callcenter import supervision
from callcenter.call_limits import seconds_until_allowed
from callcenter.filters import CallFilter
from callcenter.history import (
    MAX_OFFSET,
    TOO_DEEP,
    SearchTooSlow,
    call_detail,
    call_list,
    rows_and_more,
    search_query_problem,
    search_segments,
    search_time_limit,
    with_headlines,
)
from callcenter.live_updates import announce_call_change
from callcenter.livekit_server import livekit_configured
from callcenter.livekit_tokens import (
    barge_in_token,
    caller_token,
    listen_in_token,
    new_caller_identity,
    public_url,
)
from callcenter.models import Call, TranscriptSegment, WorkerHeartbeat
from callcenter.permissions import IsSupervisor, client_address
from callcenter.review import FlagNotMarked, mark_reviewed
from callcenter.serializers import (
    CallDetailSerializer,
    CallListSerializer,
    CallStartedSerializer,
    CallStartSerializer,
    FlagReviewSerializer,
    ListenInSerializer,
    TranscriptHitSerializer,
)

logger = logging.getLogger(__name__)


class VoiceServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Voice calls are not available right now. Please try again later."
    default_code = "voice_unavailable"


class LinesBusy(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Our lines are busy right now. Please try again in a minute."
    default_code = "lines_busy"


class CallNotLive(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This call has ended; there is nothing to listen to."
    default_code = "call_not_live"


class FlagRefused(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "flag_not_marked"


class TooManyCalls(Throttled):
    """429 with one sentence that says the wait in words (DRF's own adds a second sentence
    with the seconds); the Retry-After header still carries them."""

    def __init__(self, wait: float | None) -> None:
        minutes = max(1, math.ceil(wait / 60)) if wait else None
        when = f"in {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "in a while"
        APIException.__init__(
            self, f"Too many calls from this connection. Please try again {when}."
        )
        self.wait = math.ceil(wait) if wait else None


class CallStartThrottle(BaseThrottle):
    """Per client address (``client_address``: an IPv6 /64 counts as one), by the rule of
    ``callcenter.call_limits``; a start that fails before a call exists (voice away, lines
    busy) costs nothing."""

    def allow_request(self, request, view) -> bool:
        mine = Call.objects.filter(client_key=Call.client_key_of(client_address(request)))
        self.seconds_left = seconds_until_allowed(mine)
        return self.seconds_left is None

    def wait(self) -> float | None:
        return self.seconds_left


class CallHistoryPagination(CursorPagination):
    ordering = ("-started_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        """A cursor the API did not give out (garbled, or crafted to hold a position that is
        not a time) is a 400 with a sentence."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except (NotFound, DjangoValidationError, ValueError, OverflowError) as error:
            raise ValidationError(
                {"cursor": "This cursor was not given out by the API: start from the first page."}
            ) from error


class CallViewSet(viewsets.GenericViewSet):
    """Calls. ``create`` starts one for an anonymous customer on the call page; everything
    else is the supervisors' history."""

    queryset = Call.objects.all()
    throttle_scope = "call_start"
    filterset_class = CallFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["started_at", "ended_at"]
    pagination_class = CallHistoryPagination

    def get_permissions(self):
        return [AllowAny()] if self.action == "create" else [IsSupervisor()]

    def get_throttles(self):
        return [CallStartThrottle()] if self.action == "create" else super().get_throttles()

    def throttled(self, request, wait):
        raise TooManyCalls(wait)

    def get_serializer_class(self):
        if self.action == "list":
            return CallListSerializer
        if self.action == "retrieve":
            return CallDetailSerializer
        return CallStartSerializer

    def get_queryset(self):
        return call_detail() if self.action == "retrieve" else call_list()

    def list(self, request):
        """The call history, newest first, filtered and cursor-paginated."""
        calls = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(calls)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        """One call with its transcript, events, metrics and recordings."""
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=CallStartSerializer, responses={201: CallStartedSerializer})
    def create(self, request):
        """Start a call: the server picks the room and mints a caller token for it."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        require_voice()
        if not WorkerHeartbeat.worker_there(settings.LIVEKIT_AGENT_NAME):
            raise VoiceServiceUnavailable()  # no agent could answer: say so now, not in 20 s
        unanswered = timedelta(minutes=settings.UNANSWERED_CALL_MINUTES)
        if Call.waiting_now(unanswered).count() >= settings.MAX_WAITING_CALLS:
            raise LinesBusy()
        call = Call.objects.create(
            channel=Call.Channel.WEB,
            caller=new_caller_identity(),
            client_key=Call.client_key_of(client_address(request)),
        )
        announce_call_change(call.pk)  # open monitors show it waiting for the agent
        token = caller_token(call)
        answer = CallStartedSerializer.for_call(call, public_url(), token)
        return Response(answer.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ListenInSerializer})
    @action(detail=True, methods=["post"])
    def listen(self, request, pk=None):
        """A supervisor's token to listen in: hidden, subscribe only, a few minutes."""
        call = self._live_call_with_voice()
        _identity, token = listen_in_token(call, request.user)
        return Response(ListenInSerializer.for_call(call, public_url(), token).data)

    @extend_schema(request=None, responses={200: ListenInSerializer})
    @action(detail=True, methods=["post"], url_path="barge-in")
    def barge_in(self, request, pk=None):
        """A supervisor's token to join the call and speak; the agent announces them. A call
        no agent has answered yet is answered by the supervisor who joins it."""
        call = self._live_call_with_voice()
        _identity, token = barge_in_token(call, request.user)
        if supervision.answer_waiting_call(call.pk, request.user):
            announce_call_change(call.pk)
        async_to_sync(supervision.barge_in)(call.pk, request.user)
        return Response(ListenInSerializer.for_call(call, public_url(), token).data)

    @extend_schema(request=FlagReviewSerializer, responses={200: CallDetailSerializer})
    @action(detail=True, methods=["post"], url_path="flag-reviewed")
    def flag_reviewed(self, request, pk=None):
        """Mark a flagged call reviewed, with a note: who and when are kept, and the first
        mark stands (409 for a call not flagged or marked already)."""
        call = self.get_object()
        mark = FlagReviewSerializer(data=request.data)
        mark.is_valid(raise_exception=True)
        try:
            mark_reviewed(call, request.user, mark.validated_data["note"])
        except FlagNotMarked as refused:
            raise FlagRefused(str(refused)) from refused
        return Response(CallDetailSerializer(call_detail().get(pk=call.pk)).data)

    def _live_call_with_voice(self) -> Call:
        call = self.get_object()
        if not call.is_live:
            raise CallNotLive()
        require_voice()
        return call


def require_voice() -> None:
    """VoiceServiceUnavailable (503) unless LiveKit is configured."""
    if not livekit_configured():
        raise VoiceServiceUnavailable()


class TranscriptSearchPagination(LimitOffsetPagination):
    """Pages of search results without counting every match (a COUNT over a common word in
    millions of segments costs more than the page itself); ``next`` says whether more exist."""

    default_limit = 50
    max_limit = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        if self.offset > MAX_OFFSET:
            raise ValidationError({"offset": TOO_DEEP})
        rows, self.has_next = rows_and_more(queryset, self.offset, self.limit)
        return rows

    def get_next_link(self):
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_paginated_response(self, data):
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


class TranscriptSearchViewSet(viewsets.GenericViewSet):
    """Full-text search over every transcript (PostgreSQL), substring search on SQLite."""

    permission_classes = [IsSupervisor]
    queryset = TranscriptSegment.objects.none()
    serializer_class = TranscriptHitSerializer
    pagination_class = TranscriptSearchPagination

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True, description="words to find")]
    )
    def list(self, request):
        query = request.query_params.get("q", "").strip()
        problem = search_query_problem(query)
        if problem:
            raise ValidationError({"q": [problem]})
        try:
            with search_time_limit():
                page = with_headlines(self.paginate_queryset(search_segments(query)), query)
        except SearchTooSlow as error:
            raise ValidationError({"q": [str(error)]}) from error
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
