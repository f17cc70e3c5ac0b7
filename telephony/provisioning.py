"""A phone line on LiveKit: its inbound trunk (the number, from where) and its dispatch rule
(each call in its own room, the agent dispatched with the line's id). Idempotent: a line is
brought to exactly one trunk and one rule, and a failure removes what this attempt made, so
nothing half-made is left."""

from __future__ import annotations

import contextlib

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone
from livekit import api

from callcenter.job_request import JobRequest
from callcenter.livekit_server import LiveKitNotConfigured, livekit_api
from telephony.models import PhoneLine

# The participant attribute a phone call's From header arrives in (its only copy in the room).
CALLER_ATTRIBUTE = "callcenter.from"


class ProvisioningFailed(RuntimeError):
    """LiveKit refused or could not be reached; the message says which and why."""


def _livekit() -> api.LiveKitAPI:
    try:
        return livekit_api()
    except LiveKitNotConfigured as error:
        raise ProvisioningFailed(f"Phone lines need LiveKit. {error}") from error


def _trunk(line: PhoneLine) -> api.SIPInboundTrunkInfo:
    allowed = [a.strip() for a in line.allowed_addresses.split(",") if a.strip()]
    return api.SIPInboundTrunkInfo(
        name=line.livekit_name, numbers=[line.number], allowed_addresses=allowed,
        # The caller's number reaches the job in one attribute it reads and then clears
        # (agentworker.entrypoint.phone_caller): the rule hides it everywhere else.
        headers_to_attributes={"From": CALLER_ATTRIBUTE},
    )  # fmt: skip


def _rule(line: PhoneLine, trunk_id: str) -> api.SIPDispatchRuleInfo:
    return api.SIPDispatchRuleInfo(
        name=line.livekit_name,
        trunk_ids=[trunk_id],
        # No caller's number in the room's name, the participant's identity and name, or
        # its attributes (LiveKit's own): the room is named after the line, plus a random part.
        hide_phone_number=True,
        rule=api.SIPDispatchRule(
            dispatch_rule_callee=api.SIPDispatchRuleCallee(
                room_prefix=line.room_prefix, randomize=True
            )
        ),
        room_config=api.RoomConfiguration(
            agents=[
                api.RoomAgentDispatch(
                    agent_name=settings.LIVEKIT_AGENT_NAME,
                    metadata=JobRequest.phone_call(line.number).to_metadata(),
                )
            ]
        ),
    )


async def _provision(line: PhoneLine) -> tuple[str, str]:
    made_trunk = made_rule = None
    lkapi = _livekit()
    try:
        sip = lkapi.sip
        trunks = await sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        rules = await sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
        name = line.livekit_name
        # A trunk of someone else's that takes this number: refused, never taken over.
        for trunk in trunks.items:
            if line.number in trunk.numbers and trunk.name != name:
                raise ProvisioningFailed(
                    f"{line.number} is already taken by the trunk “{trunk.name}” "
                    f"({trunk.sip_trunk_id}) on LiveKit; remove it there first."
                )
        # Ours from an earlier attempt (by name): replaced.
        for trunk in trunks.items:
            if trunk.name == name:
                await sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        for rule in rules.items:
            if rule.name == name:
                await sip.delete_dispatch_rule(
                    api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
                )
        made_trunk = await sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(trunk=_trunk(line))
        )
        made_rule = await sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(dispatch_rule=_rule(line, made_trunk.sip_trunk_id))
        )
        outbound_id = ""
        for trunk in (await sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())).items:
            if trunk.name == name:
                await sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
        if line.outbound_address:
            made_outbound = await sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(
                        name=name,
                        address=line.outbound_address,
                        numbers=[line.number],
                        auth_username=settings.SIP_OUTBOUND_USERNAME,
                        auth_password=settings.SIP_OUTBOUND_PASSWORD,
                    )
                )
            )
            outbound_id = made_outbound.sip_trunk_id
        return made_trunk.sip_trunk_id, made_rule.sip_dispatch_rule_id, outbound_id
    except ProvisioningFailed:
        raise
    except Exception as error:
        for cleanup in (
            made_rule
            and sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(
                    sip_dispatch_rule_id=made_rule.sip_dispatch_rule_id
                )
            ),
            made_trunk
            and sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=made_trunk.sip_trunk_id)),
        ):
            if cleanup:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    await cleanup
        raise ProvisioningFailed(f"LiveKit did not take the line: {error}") from error
    finally:
        await lkapi.aclose()


def provision(line: PhoneLine) -> PhoneLine:
    """Make ``line`` exist on LiveKit as one trunk and one dispatch rule, and note their ids
    on it (not saved: the caller saves); ``ProvisioningFailed`` leaves nothing made."""
    ids = async_to_sync(_provision)(line)
    line.inbound_trunk_id, line.dispatch_rule_id, line.outbound_trunk_id = ids
    line.provisioned_at = timezone.now()
    line.provisioning_error = ""
    return line


async def _unprovision(rule_id: str, *trunk_ids: str) -> None:
    lkapi = _livekit()
    try:
        if rule_id:
            await lkapi.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id)
            )
        for trunk_id in trunk_ids:
            if trunk_id:
                await lkapi.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))
    finally:
        await lkapi.aclose()


def unprovision(line: PhoneLine) -> None:
    try:
        async_to_sync(_unprovision)(
            line.dispatch_rule_id, line.inbound_trunk_id, line.outbound_trunk_id
        )
    except Exception as error:
        raise ProvisioningFailed(f"LiveKit did not remove the line: {error}") from error
