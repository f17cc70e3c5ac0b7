"""What an agent job is asked to do: one small immutable request, and the one writer and the
one reader of a job's dispatch metadata.

Every dispatch of the agent carries a ``JobRequest`` as its metadata, whoever asks for it: the
caller's token (a web call, ``callcenter.livekit_tokens``), a phone line's dispatch rule (a
phone call, ``telephony.provisioning``), a callback (``telephony.callbacks``), and the web app
asking again for a call whose agent was lost (``callcenter.agent_dispatch``), and a campaign's
dialler (``campaigns.dialler``). The job reads it
once (``JobRequest.from_metadata``) and picks its opening from the kind: it answers a caller
who called (greets them), or dials out and waits for a person (a callback, a campaign call).

The metadata crosses LiveKit as JSON and is read back by a job; anything it does not name as
a request of ours reads as None, and the job serves no call for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from callcenter.models import Call


class JobKind(StrEnum):
    WEB_CALL = "web_call"  # a caller on the web page: the Call exists, the caller is in the room
    PHONE_CALL = "phone_call"  # a caller on a phone line: the job makes the Call
    CALLBACK = "callback"  # the desk phones a customer back: the job dials out
    CAMPAIGN_CALL = "campaign_call"  # a campaign calls a contact: the job dials out


# The longest reason a callback carries (the agent says it).
MAX_REASON = 200


@dataclass(frozen=True)
class JobRequest:
    kind: JobKind
    call_id: UUID | None = None  # the Call the job serves (None: a phone call not made yet)
    phone_line: str = ""  # the line a phone caller dialled
    reason: str = ""  # why the desk calls back

    @property
    def dials_out(self) -> bool:
        """Whether the job dials a customer (and waits for a person) instead of answering."""
        return self.kind in (JobKind.CALLBACK, JobKind.CAMPAIGN_CALL)

    # --- The requests, as their askers make them ---------------------------------------------

    @classmethod
    def web_call(cls, call: Call) -> JobRequest:
        return cls(JobKind.WEB_CALL, call_id=call.pk)

    @classmethod
    def phone_call(cls, line_number: str) -> JobRequest:
        """What a line's dispatch rule asks for each call to the line."""
        return cls(JobKind.PHONE_CALL, phone_line=line_number)

    @classmethod
    def callback(cls, call: Call, reason: str) -> JobRequest:
        return cls(JobKind.CALLBACK, call_id=call.pk, reason=reason[:MAX_REASON])

    @classmethod
    def campaign_call(cls, call: Call) -> JobRequest:
        """A campaign's dial of a contact: the call's attempt names the contact."""
        return cls(JobKind.CAMPAIGN_CALL, call_id=call.pk)

    @classmethod
    def serve_again(cls, call: Call) -> JobRequest:
        """A new job for a live call whose agent was lost: it resumes the call (the stored
        call tells it so), never greets or dials anew."""
        kind = JobKind.PHONE_CALL if call.channel == "phone" else JobKind.WEB_CALL
        return cls(kind, call_id=call.pk, phone_line=call.dialled_number)

    # --- The metadata: written here, read here -----------------------------------------------

    def to_metadata(self) -> str:
        """The request as JSON, in the shapes jobs have always read: a web call names its call,
        a phone call its line (and its call, when served again), a callback its call and
        reason. A kind those shapes cannot tell is named (``"kind"``)."""
        data: dict[str, Any] = {}
        if self.call_id:
            data["call_id"] = str(self.call_id)
        if self.phone_line:
            data["phone_line"] = self.phone_line
        if self.kind == JobKind.CALLBACK:
            data["callback"] = {"reason": self.reason}
        elif self.reason:
            data["reason"] = self.reason
        if _kind_of(data) != self.kind:
            data["kind"] = str(self.kind)
        return json.dumps(data)

    @classmethod
    def from_metadata(cls, metadata: str) -> JobRequest | None:
        """The request a dispatch carries; None when it names none of ours."""
        try:
            data = json.loads(metadata or "")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        callback = data.get("callback")
        if isinstance(callback, dict):
            data = {**data, "reason": callback.get("reason")}
        kind = _kind_of(data)
        try:
            request = cls(
                JobKind(kind),
                call_id=UUID(str(data["call_id"])) if data.get("call_id") else None,
                phone_line=_text(data.get("phone_line"), 32),
                reason=_text(data.get("reason"), MAX_REASON),
            )
        except (ValueError, TypeError):
            return None
        if request.call_id is None and request.kind != JobKind.PHONE_CALL:
            return None  # only a phone call's job makes its Call
        return request


def _kind_of(data: dict[str, Any]) -> str:
    """The kind a request's JSON names, or the one its shape tells."""
    if "kind" in data:
        return data["kind"]
    if isinstance(data.get("callback"), dict):
        return JobKind.CALLBACK
    return JobKind.PHONE_CALL if data.get("phone_line") else JobKind.WEB_CALL


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("not text")
    return value[:limit]
