"""Serializers of the call API."""

from django.urls import reverse
from rest_framework import serializers

from appointments.serializers import CallAppointmentSerializer
from callcenter.models import Call, CallEvent, TranscriptSegment
from callcenter.review import MAX_NOTE_CHARACTERS
from recordings.models import Recording
from vehicles.models import Vehicle

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
    """A supervisor's token for a live call (to listen in, or to barge in)."""


class VehicleSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Vehicle
        fields = ["id", "vin", "make", "model", "year"]


class CallListSerializer(serializers.ModelSerializer):
    """A call in the history list."""

    vehicle = VehicleSummarySerializer(allow_null=True)
    caller = serializers.CharField(
        source="caller_shown", read_only=True, help_text="A phone caller's number is masked."
    )
    room_name = serializers.CharField(source="room_shown", read_only=True)
    duration_seconds = serializers.SerializerMethodField()
    segment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Call
        fields = [
            "id",
            "room_name",
            "status",
            "channel",
            "origin",
            "caller",
            "dialled_number",
            "vehicle",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "outcome",
            "needs_human",
            "summary",
            "segment_count",
            "recording_consent",
            "flagged",
            "flag_reason",
        ]

    def get_duration_seconds(self, call: Call) -> float | None:
        duration = call.duration
        return round(duration.total_seconds(), 1) if duration is not None else None


class TranscriptSegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TranscriptSegment
        fields = [
            "sequence", "speaker", "speaker_name", "text", "language", "interrupted",
            "started_at", "ended_at",
        ]  # fmt: skip


class CallEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallEvent
        fields = ["sequence", "type", "payload", "created_at"]


class RecordingSerializer(serializers.ModelSerializer):
    playback_url = serializers.SerializerMethodField()

    class Meta:
        model = Recording
        fields = [
            "id", "source", "status", "format", "duration_seconds", "size_bytes", "playback_url",
        ]  # fmt: skip

    def get_playback_url(self, recording: Recording) -> str | None:
        if recording.status != Recording.Status.READY:
            return None
        return reverse("recording-audio", args=[recording.pk])


class CallDetailSerializer(CallListSerializer):
    """A call with its transcript, events, metrics and recordings."""

    segments = TranscriptSegmentSerializer(many=True)
    events = CallEventSerializer(many=True)
    flag_reviewed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="The supervisor who looked at the flag."
    )
    recordings = RecordingSerializer(many=True)
    appointments = CallAppointmentSerializer(many=True)

    class Meta(CallListSerializer.Meta):
        fields = [
            *CallListSerializer.Meta.fields,
            "failure_reason",
            "worker_host",
            "media_node",
            "metrics",
            "review",
            "flag_reviewed_by",
            "flag_reviewed_at",
            "flag_review_note",
            "segments",
            "events",
            "recordings",
            "appointments",
        ]


class TranscriptHitSerializer(serializers.ModelSerializer):
    """A transcript segment that matched a search, with its call."""

    call_id = serializers.UUIDField(read_only=True)
    call_started_at = serializers.DateTimeField(source="call.started_at", read_only=True)
    headline = serializers.CharField(
        read_only=True,
        help_text="HTML: the text escaped, the matches in <b>…</b> (no other markup)",
    )

    class Meta:
        model = TranscriptSegment
        fields = ["call_id", "call_started_at", "sequence", "speaker", "text", "headline"]


class FlagReviewSerializer(serializers.Serializer):
    """A supervisor's mark on a flagged call."""

    note = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_NOTE_CHARACTERS, default=""
    )
