"""What the parts of one agent job share: the call, its writer, the agent and its session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livekit.agents import AgentSession

    from agentworker.agent import ServiceDeskAgent
    from agentworker.writer import CallWriter
    from callcenter.models import Call
    from telephony.models import PhoneLine


@dataclass(frozen=True)
class CallJob:
    """One call being served. The writer is the only way its parts change the call's record.
    ``line``: the phone line the call came in on (or calls back through), as the job read it
    when it started; None for web calls."""

    call: Call
    writer: CallWriter
    agent: ServiceDeskAgent
    session: AgentSession
    line: PhoneLine | None = None

    @property
    def call_id(self):
        return self.call.pk
