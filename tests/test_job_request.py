"""What a job is asked to do travels as its dispatch metadata: written and read in one module
(``callcenter.job_request``), the same request back from every asker, and nothing else read as
one of ours."""

import ast
import json
from pathlib import Path

import pytest

from callcenter.job_request import JobKind, JobRequest
from callcenter.models import Call

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "callcenter" / "job_request.py"
APPS = [
    "config", "callcenter", "vehicles", "monitoring", "recordings", "agentworker",
    "appointments", "telephony", "campaigns", "bench",
]  # fmt: skip
DISPATCHES = {"RoomAgentDispatch", "CreateAgentDispatchRequest"}


def test_every_askers_request_comes_back_as_it_was_asked():
    web = Call(channel=Call.Channel.WEB)
    phone = Call(channel=Call.Channel.PHONE, dialled_number="+4930123456")
    for request in [
        JobRequest.web_call(web),
        JobRequest.phone_call("+4930123456"),
        JobRequest.callback(phone, "your call did not go through"),
        JobRequest.campaign_call(phone),
        JobRequest.serve_again(web),
        JobRequest.serve_again(phone),
    ]:
        assert JobRequest.from_metadata(request.to_metadata()) == request
    assert JobRequest.callback(phone, "x").dials_out
    assert not JobRequest.serve_again(phone).dials_out  # a resumed callback never redials
    assert JobRequest.serve_again(phone).kind == JobKind.PHONE_CALL


def test_the_metadata_keeps_the_shapes_jobs_and_provisioned_phone_lines_already_use():
    call = Call(channel=Call.Channel.PHONE, dialled_number="+4930123456")
    call_id = str(call.pk)
    assert json.loads(JobRequest.web_call(call).to_metadata()) == {"call_id": call_id}
    assert json.loads(JobRequest.phone_call("+4930123456").to_metadata()) == {
        "phone_line": "+4930123456"
    }
    assert json.loads(JobRequest.callback(call, "it failed").to_metadata()) == {
        "call_id": call_id,
        "callback": {"reason": "it failed"},
    }
    rule = JobRequest.from_metadata(json.dumps({"phone_line": "+4930123456"}))
    assert (rule.kind, rule.phone_line, rule.call_id) == (JobKind.PHONE_CALL, "+4930123456", None)
    callback = JobRequest.from_metadata(
        json.dumps({"call_id": call_id, "callback": {"reason": "it failed"}})
    )
    assert (callback.kind, str(callback.call_id), callback.reason) == (
        JobKind.CALLBACK,
        call_id,
        "it failed",
    )
    web = JobRequest.from_metadata(json.dumps({"call_id": call_id}))
    assert (web.kind, str(web.call_id)) == (JobKind.WEB_CALL, call_id)


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "null",
        "[1]",
        "not json",
        '{"kind": "launch_rocket"}',
        '{"kind": "web_call"}',  # whose call?
        '{"kind": "callback", "call_id": "../x"}',
        '{"kind": "phone_call", "phone_line": 5}',
        '{"call_id": "0b6a3c6e-9c9e-4a43-9d0a-2d3f0f4f2a11", "reason": ["x"]}',
    ],
)
def test_metadata_that_names_no_request_of_ours_reads_as_none(metadata):
    assert JobRequest.from_metadata(metadata) is None


def sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if path != HOME and "migrations" not in path.parts:
                yield path


def test_no_module_but_the_requests_home_writes_or_reads_dispatch_metadata():
    found = []
    for path in sources():
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            # Written: every dispatch's metadata is a JobRequest's.
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                for keyword in node.keywords:
                    if name in DISPATCHES and keyword.arg == "metadata":
                        value = keyword.value
                        made_here = (
                            isinstance(value, ast.Call)
                            and getattr(value.func, "attr", "") == "to_metadata"
                        )
                        if not made_here:
                            found.append(f"{path.relative_to(ROOT)}:{node.lineno} writes")
            # Read: a job's metadata goes straight into JobRequest.from_metadata.
            if isinstance(node, ast.Attribute) and node.attr == "metadata":
                owner = node.value
                if isinstance(owner, ast.Attribute) and owner.attr == "job":
                    line = text.splitlines()[node.lineno - 1]
                    if "JobRequest.from_metadata(" not in line:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads")
    assert found == [], "dispatch metadata outside callcenter/job_request.py"
    # The check sees what it looks for: the request's own askers and reader are there.
    askers = [p for p in sources() if ".to_metadata()" in p.read_text()]
    assert {p.relative_to(ROOT).as_posix() for p in askers} >= {
        "callcenter/livekit_tokens.py",
        "callcenter/agent_dispatch.py",
        "telephony/provisioning.py",
    }
