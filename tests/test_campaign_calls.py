"""What the person answering a campaign call decides, through the agent's own tools for the
call's contact (text-mode conversations on the scripted LLM and the real ORM), and how the
dialler applies it once the call has ended: don't call again, call at another time, wrong
number, not interested. No tool names a number or a contact: the caller steers the model."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from livekit.agents import llm

from agentworker.campaign_call import ContactTools, call_later_time, contact_tools_for
from appointments.calendar import UnclearDate
from callcenter.models import Call, CallEvent
from campaigns import dialler
from campaigns.models import Attempt, Campaign, Contact, DoNotCall
from telephony.models import PhoneLine
from tests.support.agent_job import agent_call, tool_outputs
from tests.support.scripted_llm import Reply, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

CHICAGO = ZoneInfo("America/Chicago")


def a_campaign(**fields) -> Campaign:
    line = PhoneLine.objects.get_or_create(number="+13125550100", defaults={"name": "Desk"})[0]
    fields = {"name": "Winter service", "max_attempts": 3, **fields}
    return Campaign.objects.create(
        purpose=Campaign.Purpose.SERVICE_DUE, brief="Offer a check.", line=line,
        status=Campaign.Status.RUNNING, **fields,
    )  # fmt: skip


def a_contact(campaign: Campaign, phone: str = "+13125550111") -> Contact:
    return Contact.objects.create(
        campaign=campaign, name="Ana Silva", phone=phone, time_zone="America/Chicago",
        consent_source="service contract", state=Contact.State.DIALLING, attempts=1,
    )  # fmt: skip


async def decided_on_a_call(contact: Contact, *tool_calls: ToolCall):
    """The contact's call, on which the person answering leads the agent to ``tool_calls``
    (one turn each), ended as answered; what each tool answered, and the attempt."""
    attempt = None

    async def tools_for(call):
        nonlocal attempt
        attempt = await Attempt.objects.acreate(contact=contact, call=call, number=1)
        return await contact_tools_for(call)

    script = []
    for tool_call in tool_calls:
        script += [Reply(tool_calls=[tool_call]), Reply(text="Goodbye.")]
    async with agent_call(
        script, tools_for=tools_for, channel=Call.Channel.PHONE, caller=contact.phone
    ) as (session, call, server, writer, _):
        answers = []
        for turn in range(len(tool_calls)):
            await session.run(user_input="Please.")
            answers.append(tool_outputs(server.requests[2 * turn + 1])[-1])
        writer.event(CallEvent.Type.CALLBACK, {"result": "answered"})
        await writer.flush()
    await Call.objects.filter(pk=call.pk).aupdate(status=Call.Status.ENDED)
    return answers, attempt


def settled(contact: Contact, now=None) -> Contact:
    dialler.settle_ended_calls(now)
    contact.refresh_from_db()
    return contact


async def test_a_contact_who_asks_not_to_be_called_again_is_never_dialled_again():
    campaign = await sync_to_async(a_campaign)()
    contact = await sync_to_async(a_contact)(campaign)
    answers, _ = await decided_on_a_call(contact, ToolCall("do_not_call_again", {}))
    assert "do-not-call list" in answers[0]
    barred = await DoNotCall.objects.aget(number=contact.phone)
    assert "Winter service" in barred.reason
    contact = await sync_to_async(settled)(contact)
    assert (contact.state, contact.outcome) == (Contact.State.DONE, Contact.Outcome.DO_NOT_CALL)
    # Another campaign's list has the number: it is skipped, and the skip recorded.
    other = await sync_to_async(a_contact)(await sync_to_async(a_campaign)(name="Recall"))
    await Contact.objects.filter(pk=other.pk).aupdate(state=Contact.State.WAITING, attempts=0)
    assert await sync_to_async(dialler.place_due_calls)() == []
    await other.arefresh_from_db()
    assert (other.outcome, other.note) == (Contact.Outcome.DO_NOT_CALL, dialler.SKIPPED)
    assert not await Attempt.objects.filter(contact=other).aexists()


async def test_call_me_at_another_time_sets_the_next_attempt_then_and_is_bounded():
    campaign = await sync_to_async(a_campaign)(max_attempts=1)
    contact = await sync_to_async(a_contact)(campaign)
    answers, _ = await decided_on_a_call(
        contact, ToolCall("call_back_later", {"when": "the day after tomorrow at 5 pm"})
    )
    assert "put off to" in answers[0]
    contact = await sync_to_async(settled)(contact)
    asked = datetime.combine(datetime.now(CHICAGO).date() + timedelta(days=2), time(17), CHICAGO)
    # Waiting again although its attempts ran out: the person asked for this call.
    assert (contact.state, contact.outcome) == (Contact.State.WAITING, Contact.Outcome.CALL_LATER)
    assert contact.next_attempt_at == asked
    assert "day after tomorrow" in contact.note
    await Contact.objects.filter(pk=contact.pk).aupdate(
        state=Contact.State.DIALLING, outcome="", later_asked=Contact.MAX_LATER
    )
    answers, _ = await decided_on_a_call(
        contact, ToolCall("call_back_later", {"when": "tomorrow at 10 am"})
    )
    assert "put off 3 times already" in answers[0]
    contact = await sync_to_async(settled)(contact)
    assert (contact.state, contact.outcome) == (Contact.State.DONE, Contact.Outcome.TALKED)


async def test_a_wrong_number_and_a_no_thanks_close_the_contact_with_why():
    campaign = await sync_to_async(a_campaign)()
    wrong = await sync_to_async(a_contact)(campaign)
    declined = await sync_to_async(a_contact)(campaign, phone="+13125550112")
    await decided_on_a_call(wrong, ToolCall("wrong_number", {}))
    await decided_on_a_call(
        declined, ToolCall("not_interested", {"reason": "sold the car last month"})
    )
    wrong, declined = await sync_to_async(settled)(wrong), await sync_to_async(settled)(declined)
    assert (wrong.state, wrong.outcome, wrong.note) == (
        Contact.State.DONE, Contact.Outcome.WRONG_PERSON, "Wrong number."
    )  # fmt: skip
    assert (declined.state, declined.outcome) == (Contact.State.DONE, Contact.Outcome.DECLINED)
    assert declined.note == "Said: sold the car last month"
    assert not await DoNotCall.objects.aexists()  # neither bars the number


def test_a_later_call_is_asked_for_within_the_window_in_the_contacts_own_zone():
    contact = a_contact(a_campaign())
    now = datetime(2026, 12, 7, 10, 0, tzinfo=CHICAGO)  # a Monday
    assert call_later_time("Thursday at 5 pm", contact, now) == datetime(
        2026, 12, 10, 17, 0, tzinfo=CHICAGO
    )
    # A part of the day starts no sooner than the window; "later today" no sooner than notice.
    assert call_later_time("tomorrow morning", contact, now).time() == time(8)
    assert call_later_time("this afternoon", contact, now) == datetime(
        2026, 12, 7, 12, 0, tzinfo=CHICAGO
    )
    late = datetime(2026, 12, 7, 16, 30, tzinfo=CHICAGO)
    assert call_later_time("this afternoon", contact, late) == late + timedelta(minutes=15)
    # "In 2 hours" from now, to the minute, not the start of the window.
    assert call_later_time("call me in 2 hours", contact, now) == now + timedelta(hours=2)
    assert call_later_time("in half an hour", contact, now) == now + timedelta(minutes=30)
    for phrase, at, said in [
        ("Thursday at 10 pm", now, "only between 08:00 and 21:00, their time"),
        ("this morning", late, "That time has passed"),
        ("in two months", now, "more than 30 days ahead"),
        ("when the moon is blue", now, "not a date I can read"),
        ("in 14 hours", now, "only between 08:00 and 21:00, their time"),
    ]:
        with pytest.raises(UnclearDate, match=said):
            call_later_time(phrase, contact, at)


async def test_only_a_campaigns_call_has_the_contact_tools_and_none_takes_a_number():
    web_call = await Call.objects.acreate()
    assert await contact_tools_for(web_call) == []
    parameters = {
        tool.info.name: set(
            llm.utils.build_legacy_openai_schema(tool)["function"]["parameters"]["properties"]
        )
        for tool in ContactTools(contact_id=1).tools
    }
    assert parameters == {
        "do_not_call_again": set(),
        "call_back_later": {"when"},
        "wrong_number": set(),
        "not_interested": {"reason"},
    }


def test_a_later_call_is_not_put_where_the_line_is_closed():
    campaign = a_campaign()
    campaign.line.opening_hours = "Mo-Fr 09:00-17:00"
    campaign.line.save()
    contact = a_contact(campaign)
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=CHICAGO)
    with pytest.raises(UnclearDate, match="open Monday to Friday 9 to 17"):
        call_later_time("Saturday at 10 am", contact, monday)


async def test_asking_twice_on_one_call_is_one_put_off_and_nothing_is_kept_after_it_ended():
    campaign = await sync_to_async(a_campaign)()
    contact = await sync_to_async(a_contact)(campaign)
    await decided_on_a_call(
        contact,
        ToolCall("call_back_later", {"when": "Thursday at 5 pm"}),
        ToolCall("call_back_later", {"when": "Friday at 5 pm"}),
    )
    await contact.arefresh_from_db()
    assert contact.later_asked == 1 and contact.next_attempt_at.weekday() == 4
    contact = await sync_to_async(settled)(contact)
    # A tool still running as the call was settled records nothing on the settled contact.
    late = ContactTools(contact.pk)
    _, refused = await late._record(Contact.decide, Contact.Outcome.DECLINED, "")
    assert "The call has ended" in refused
    await contact.arefresh_from_db()
    assert contact.outcome == Contact.Outcome.CALL_LATER
