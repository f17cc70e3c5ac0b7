"""What a person at the desk does with a handoff: accept it (and get the token that joins
them to the caller's room), decline it, hand the call back to the agent, or end the call."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from drf_spectacular.utils import extend_schema
from livekit import api as livekit
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from callcenter.api import require_voice
from callcenter.live_updates import announce_call_change
from callcenter.livekit_server import livekit_api
from callcenter.livekit_tokens import desk_token, public_url
from callcenter.supervision import SupervisorCommand, send_command
from desk import routing
from desk.live import announce_desk_change_sync
from desk.models import DeskPerson, Handoff
from desk.permissions import IsDeskStaff

logger = logging.getLogger(__name__)


class Refused(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "handoff_refused"


class HandoffSerializer(serializers.Serializer):
    """A handoff as the desk page shows it (``Handoff.to_dict``)."""

    def to_representation(self, instance: Handoff):
        return instance.to_dict()


class AcceptedSerializer(serializers.Serializer):
    handoff = serializers.DictField()
    server_url = serializers.CharField()
    token = serializers.CharField()


class HandoffViewSet(viewsets.GenericViewSet):
    """The desk's actions on a handoff; each answers 409 with a sentence when it is too late
    (another person took it, the caller hung up, it rang out)."""

    queryset = Handoff.objects.all()
    permission_classes = [IsDeskStaff]
    serializer_class = HandoffSerializer

    def _do(self, change, pk):
        try:
            handoff = change(int(pk), self.request.user)
        except routing.HandoffRefused as refused:
            raise Refused(str(refused)) from refused
        except ValueError as error:
            raise Refused("There is no such handoff.") from error
        # Whoever is free now, or the handoff passed on, rings next.
        rung = [ring.user_id for ring in routing.ring_next()]
        announce_desk_change_sync([self.request.user.pk, *rung])
        announce_call_change(handoff.call_id)
        return handoff

    @extend_schema(request=None, responses={200: AcceptedSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Take the handoff ringing at your desk: a token that joins you to the caller's room
        with your microphone, and the agent's brief."""
        require_voice()
        handoff = self._do(routing.accept, pk)
        name = DeskPerson.of(request.user).name
        _identity, token = desk_token(handoff.call, request.user, name)
        handoff = Handoff.objects.for_desk().get(pk=handoff.pk)
        return Response({"handoff": handoff.to_dict(), "server_url": public_url(), "token": token})

    @extend_schema(request=None, responses={200: HandoffSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Pass the handoff on: it rings the next available person."""
        handoff = self._do(routing.decline, pk)
        return Response(HandoffSerializer(handoff).data)

    @extend_schema(request=None, responses={200: HandoffSerializer})
    @action(detail=True, methods=["post"], url_path="hand-back")
    def hand_back(self, request, pk=None):
        """Give the call back to the agent, which picks up with what was said meanwhile."""
        handoff = self._do(routing.hand_back, pk)
        command = SupervisorCommand("hand_back", request.user.get_username())
        async_to_sync(send_command)(handoff.call_id, command)
        return Response(HandoffSerializer(handoff).data)

    @extend_schema(request=None, responses={200: HandoffSerializer})
    @action(detail=True, methods=["post"], url_path="called-back")
    def called_back(self, request, pk=None):
        """Mark a callback task done: you called the customer back."""
        return Response(HandoffSerializer(self._do(routing.called_back, pk)).data)

    @extend_schema(request=None, responses={200: HandoffSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End the call for everyone in it."""
        handoff = self._do(routing.end_with_person, pk)
        async_to_sync(_close_room)(handoff.call.room_name)
        return Response(HandoffSerializer(handoff).data)


async def _close_room(room: str) -> None:
    """Close the caller's room: LiveKit disconnects everyone, and the call ends as any call
    whose room is gone (the agent job's end, the room-finished webhook)."""
    async with livekit_api() as lkapi:
        await lkapi.room.delete_room(livekit.DeleteRoomRequest(room=room))
