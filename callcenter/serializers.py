"""Serializers of the call API."""

from rest_framework import serializers

from callcenter.models import Call

# What a client might try to choose; the server decides all of it.
SERVER_CHOSEN_FIELDS = ("room", "room_name", "identity", "ttl", "grants", "token", "name")


class CallStartSerializer(serializers.Serializer):
    """Starting a call takes no input: room, identity, grants and lifetime are the server's."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send a JSON object (it may be empty)."]}
            )
        chosen = {
            field: ["The server chooses this; do not send it."]
            for field in SERVER_CHOSEN_FIELDS
            if field in data
        }
        if chosen:
            raise serializers.ValidationError(chosen)
        return {}


class CallStartedSerializer(serializers.Serializer):
    """The answer to a call start: where to connect and with what."""

    call_id = serializers.UUIDField()
    room = serializers.CharField()
    server_url = serializers.CharField()
    token = serializers.CharField()

    @classmethod
    def for_call(cls, call: Call, server_url: str, token: str) -> "CallStartedSerializer":
        return cls(
            {"call_id": call.pk, "room": call.room_name, "server_url": server_url, "token": token}
        )


class ListenInSerializer(CallStartedSerializer):
    """A supervisor's listen-in token for a live call."""
