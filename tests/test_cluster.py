"""The product over several hosts: calls through a TLS edge, spread by LiveKit's own placement
and dispatch over two media nodes and two workers, supervisors on either web host, workers
added and drained while calls run, callers without UDP and on a lossy link.

The hosts are network namespaces (``tests.support.cluster``); the caller's Chromium runs on
the caller host, which reaches the edge and the media nodes only. What is stored is read as a
supervisor reads it: through the edge, with the history API.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from recordings.consent import ANNOUNCEMENT
from tests.support.cluster import (
    MEDIA,
    PHONE_LINE,
    ROOT,
    SITE,
    WEB,
    WORKERS_AT_START,
    Cluster,
)
from tests.support.scripted_llm import ExpectedSpeech
from tests.support.service_desk_script import (
    ANSWER,
    CALLER_SAYS,
    GREETING,
    SPOKEN_VIN,
    VIN,
    service_desk,
)
from tests.support.voice_stack import (
    CHROMIUM_VOICE_ARGS,
    HEARD,
    REMOTE_AUDIO_METER,
    page_time,
    silence_wav,
    speech_wav,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "cluster"


@pytest.fixture
def deployment(cluster: Cluster) -> Cluster:
    """The cluster with its first two workers running (a test may have drained them) and the
    caller host's network as a caller's: no extra firewall rule of an earlier test."""
    for host in cluster.centre.hosts.values():
        host.set_link(True)  # a host an earlier test lost is back
    for name in WEB:
        cluster.restore_web_host(name)
    for name in MEDIA:
        cluster.restore_media_host(name)
    if not cluster.running("redis"):
        cluster.restart("redis", 6379)
    for name in WORKERS_AT_START:
        if not cluster.running(name):
            cluster.start_worker(name)
    cluster["caller"].flush_firewall()
    cluster.isolate_caller()
    cluster.models.script = service_desk
    cluster.models._replies = None
    cluster.models.transcripts = []
    cluster.models.requests.clear()
    return cluster


@pytest.fixture
def chromium_on_caller(deployment, browser, request):
    """Opens Chromium on the caller host, its microphone playing a WAV; a failing test leaves
    its pages' screenshots and consoles under artifacts/cluster/<test>/."""
    opened = []

    def launch(microphone: Path):
        chromium = browser.browser_type.launch(
            executable_path=str(deployment.chromium_on_caller()),
            args=[*CHROMIUM_VOICE_ARGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"],
        )
        opened.append(chromium)
        return chromium

    yield launch
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for number, chromium in enumerate(opened):
        if failed:
            folder = ARTIFACTS / request.node.name
            folder.mkdir(parents=True, exist_ok=True)
            for index, context in enumerate(chromium.contexts):
                for page_number, page in enumerate(context.pages):
                    name = f"browser{number}-context{index}-page{page_number}"
                    try:
                        page.screenshot(path=folder / f"{name}.png", full_page=True)
                    except Exception as error:
                        (folder / f"{name}.error").write_text(str(error))
                    lines = getattr(page, "console_lines", [])
                    (folder / f"{name}-console.txt").write_text("\n".join(lines))
        chromium.close()


def new_page(chromium):
    context = chromium.new_context(permissions=["microphone"])
    page = context.new_page()
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
    page.add_init_script(REMOTE_AUDIO_METER)
    return page


def start_call(page) -> str:
    """Call from the site's home page; returns the call's id."""
    page.goto(f"https://{SITE}/", timeout=60000)  # the host is busy with the other calls
    with page.expect_response(
        lambda r: r.url.endswith("/api/calls/") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Call", exact=True).click()
    assert answer.value.status == 201, answer.value.text()
    expect(page.locator("#call-app")).to_have_attribute("data-state", "inCall", timeout=30000)
    return answer.value.json()["call_id"]


def log_in(page, cluster: Cluster, then: str = "/monitor/") -> None:
    page.goto(f"https://{SITE}/admin/login/?next={then}")
    page.locator("#id_username").fill("supervisor")
    page.locator("#id_password").fill(cluster.secrets.admin)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"https://{SITE}{then}")


def api(page, path: str):
    """GET ``path`` of the site's API from ``page`` (its session, its host's network)."""
    answer = page.evaluate(
        "async (path) => { const r = await fetch(path); return [r.status, await r.text()]; }",
        path,
    )
    assert answer[0] == 200, answer
    return json.loads(answer[1])


def stored_call(supervisor, call_id: str, until=lambda call: True, seconds: float = 60) -> dict:
    """The call as the history API gives it, once ``until`` holds."""

    def when_ready():
        call = api(supervisor, f"/api/calls/{call_id}/")
        return call if until(call) else None

    return wait_until(when_ready, seconds, f"call {call_id} to be stored as expected")


def spoken_call_microphone(cluster: Cluster, folder: Path, leading_silence: float = 12) -> Path:
    """A caller who says their VIN after a pause; the scripted desk expects it."""
    microphone = folder / "caller.wav"
    seconds = speech_wav(microphone, CALLER_SAYS, leading_silence=leading_silence)
    cluster.models.transcripts = [ExpectedSpeech(CALLER_SAYS, seconds - 1.5, seconds + 3.0)]
    return microphone


def hear_greeting_vin_and_answer(page, started: float) -> None:
    captions = page.locator("#captions")
    page.wait_for_function(HEARD, arg=started, timeout=30000)
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    expect(captions).to_contain_text(f"You: {CALLER_SAYS}", timeout=45000)
    before_answer = page_time(page)
    expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=30000)
    page.wait_for_function(HEARD, arg=before_answer, timeout=20000)
    # The caption runs ahead of the voice: the answer is spoken to its end before a hang-up,
    # or it is stored as cut off.
    page.wait_for_timeout(3000)


def register_vehicle(cluster: Cluster) -> None:
    cluster.manage(
        "web1", "shell", "-c",
        "from vehicles.models import Vehicle; Vehicle.objects.get_or_create("
        f"vin='{VIN}', defaults=dict(make='Honda', model='Accord', year=2003))",
    )  # fmt: skip


@contextmanager
def supervisor_page(chromium):
    page = new_page(chromium)
    try:
        yield page
    finally:
        page.context.close()


def assert_spoken_call_stored(call: dict, cluster: Cluster) -> None:
    texts = [(segment["speaker"], segment["text"]) for segment in call["segments"]]
    assert texts[:4] == [
        ("agent", ANNOUNCEMENT), ("agent", GREETING), ("customer", CALLER_SAYS), ("agent", ANSWER)
    ], texts  # fmt: skip
    assert call["vehicle"]["vin"] == VIN
    lookups = [e for e in call["events"] if e["type"] == "tool_call"]
    assert lookups and lookups[0]["payload"]["name"] == "lookup_vehicle"
    assert call["worker_host"] in {"worker1", "worker2", "worker3"}, call["worker_host"]
    assert call["media_node"] in {cluster[name].address for name in MEDIA}, call["media_node"]


def test_the_caller_host_reaches_the_edge_and_media_nodes_only(deployment):
    caller = deployment["caller"]
    probe = (
        "import socket, sys\n"
        "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
        "except OSError:\n sys.exit(1)\n"
    )
    reachable = {
        (host, port): caller.run(["python3", "-c", probe, host, str(port)], check=False).returncode
        == 0
        for host, port in [("edge", 443), ("media1", 7881), ("web1", 8000), ("web2", 8000),
                           ("data", 6432), ("data", 6379), ("data", 9000), ("media1", 7880)]
    }  # fmt: skip
    assert reachable == {
        ("edge", 443): True,
        ("media1", 7881): True,
        ("web1", 8000): False,
        ("web2", 8000): False,
        ("data", 6432): False,
        ("data", 6379): False,
        ("data", 9000): False,
        ("media1", 7880): True,  # signalling is served by the edge; the port answers a direct
        # connection too, as it must for the edge (the firewall of a real media host may close it)
    }


# What listens on every address of its host, and why (docs/deploy.md): livekit-server's
# ICE/TCP port has no setting to bind it, and the worker's health endpoint is for the
# orchestrator's probes. Everything else listens on its host's own address only.
ON_EVERY_ADDRESS = {("media1", 7881), ("media2", 7881), ("worker1", 8081), ("worker2", 8081),
                    ("worker3", 8081)}  # fmt: skip
# MinIO also listens on its host's loopback (which only that host reaches); it has no setting
# to leave it out.
ON_LOOPBACK_TOO = {("data", 9000)}
LOOPBACK = {"127.0.0.1", "[::1]"}


def test_each_server_listens_on_its_own_hosts_address_only(deployment):
    wider = []
    for name, host in deployment.centre.hosts.items():
        for line in host.run(["ss", "-H", "-ltn"]).stdout.splitlines():
            address, port = line.split()[3].rsplit(":", 1)
            if address == host.address or (name, int(port)) in ON_EVERY_ADDRESS:
                continue
            if not (address in LOOPBACK and (name, int(port)) in ON_LOOPBACK_TOO):
                wider.append(f"{name}: {address}:{port}")
    assert wider == []
    # PostgreSQL listens on no address at all: PgBouncer reaches it by its Unix socket.
    assert ":5432" not in deployment["data"].run(["ss", "-H", "-ltn"]).stdout


def test_a_browser_call_over_https_through_the_edge_is_answered_and_stored(
    deployment, chromium_on_caller, tmp_path
):
    register_vehicle(deployment)
    microphone = spoken_call_microphone(deployment, tmp_path)
    chromium = chromium_on_caller(microphone)
    page = new_page(chromium)
    started = time.time() * 1000
    call_id = start_call(page)
    hear_greeting_vin_and_answer(page, started)
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#call-app")).to_have_attribute("data-state", "ended")

    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        call = stored_call(supervisor, call_id, lambda c: c["status"] == "ended" and c["summary"])
    assert_spoken_call_stored(call, deployment)
    # The page came over https from the edge; its audio from a media node's address.
    assert page.url.startswith(f"https://{SITE}/")
    assert "upstream=" in deployment.edge_access_log()


def test_six_calls_are_spread_over_both_media_nodes_and_both_workers(
    deployment, chromium_on_caller, tmp_path
):
    microphone = tmp_path / "silence.wav"
    silence_wav(microphone, seconds=120)
    chromium = chromium_on_caller(microphone)
    pages, calls = [], []
    for _ in range(6):
        page = new_page(chromium)
        started = time.time() * 1000
        calls.append(start_call(page))
        pages.append((page, started))
        # Calls arrive one after another, as they do: LiveKit's nodes refresh their room
        # counts and the workers their load every few seconds, which placement reads.
        page.wait_for_timeout(3000)
    for page, started in pages:
        expect(page.locator("#captions")).to_contain_text(GREETING, timeout=45000)
        page.wait_for_function(HEARD, arg=started, timeout=30000)
    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        placed = [
            stored_call(supervisor, call_id, lambda c: c["worker_host"] and c["media_node"])
            for call_id in calls
        ]
        for page, _ in pages:
            page.get_by_role("button", name="Hang up").click()
    workers = {call["worker_host"] for call in placed}
    nodes = {call["media_node"] for call in placed}
    assert workers == {"worker1", "worker2"}, [c["worker_host"] for c in placed]
    assert nodes == {deployment[name].address for name in MEDIA}, [c["media_node"] for c in placed]


def web_hosts_with_monitor_sockets(cluster: Cluster, offsets: dict[str, int]) -> set[str]:
    found = set()
    for name in WEB:
        text = cluster.log(name).read_text(errors="replace")[offsets[name] :]
        if "WSCONNECT /ws/monitor/" in text:
            found.add(name)
    return found


def monitors_on_every_web_host(cluster: Cluster, desk) -> list:
    """Supervisors open the monitor until both web hosts serve one of their sockets (the edge
    balances each new connection); their pages."""
    offsets = {name: cluster.log(name).stat().st_size for name in WEB}
    monitors = []
    while web_hosts_with_monitor_sockets(cluster, offsets) != set(WEB):
        assert len(monitors) < 6, "the edge sent every monitor socket to one web host"
        monitor = new_page(desk)
        log_in(monitor, cluster)
        expect(monitor.locator("#connection")).to_have_text("Live", timeout=15000)
        monitors.append(monitor)
        monitor.wait_for_timeout(500)
    return monitors


def a_call_on_every_web_hosts_monitor(cluster: Cluster, chromium_on_caller, folder: Path,
                                      leading_silence: float):  # fmt: skip
    """Supervisors on both web hosts follow a call whose caller says their VIN after
    ``leading_silence``, once they see its greeting: (the supervisors' browser, their pages,
    the caller's page, the call's id, when it started in page time)."""
    register_vehicle(cluster)
    silence = folder / "silence.wav"
    silence_wav(silence, seconds=120)
    desk = chromium_on_caller(silence)
    monitors = monitors_on_every_web_host(cluster, desk)
    microphone = spoken_call_microphone(cluster, folder, leading_silence=leading_silence)
    caller = new_page(chromium_on_caller(microphone))
    started = time.time() * 1000
    call_id = start_call(caller)
    for monitor in monitors:
        monitor.locator(f"[data-call-id='{call_id}']").first.click()
        expect(monitor.locator("#transcript")).to_contain_text(GREETING, timeout=30000)
    return desk, monitors, caller, call_id, started


def test_supervisors_on_either_web_host_see_a_call_live_and_listen_in_from_either_node(
    deployment, chromium_on_caller, tmp_path
):
    # Every supervisor sees the call's transcript live, whichever web host serves them.
    _, monitors, caller, _, started = a_call_on_every_web_hosts_monitor(
        deployment, chromium_on_caller, tmp_path, leading_silence=15
    )
    # Two of them listen in; the edge sends their signalling to both media nodes in turn, and
    # each hears the call from the node that hosts its room.
    listeners = monitors[:2]
    edge_log_start = len(deployment.edge_access_log())
    for monitor in listeners:
        monitor.get_by_role("button", name="Listen in").click()
        expect(monitor.locator("#listen-status")).to_contain_text("Listening", timeout=20000)
    hear_greeting_vin_and_answer(caller, started)
    for monitor in monitors:
        expect(monitor.locator("#transcript")).to_contain_text(CALLER_SAYS, timeout=30000)
        expect(monitor.locator("#transcript")).to_contain_text(ANSWER, timeout=30000)
    for monitor in listeners:
        monitor.wait_for_function(HEARD, arg=started, timeout=20000)
        monitor.get_by_role("button", name="Stop listening").click()
    caller.get_by_role("button", name="Hang up").click()
    # nginx logs a websocket when it closes: the listeners' signalling reached both nodes. The
    # closes are logged one by one: wait for both nodes (or the time), not for the first line.
    nodes = {deployment[name].address for name in MEDIA}

    def signalling() -> list[str]:
        return [
            line
            for line in deployment.edge_access_log()[edge_log_start:].splitlines()
            if "/rtc" in line and f"host=livekit.{SITE}" in line
        ]

    def upstreams() -> set[str]:
        return {line.rsplit("upstream=", 1)[1].split(":")[0] for line in signalling()}

    with contextlib.suppress(AssertionError):
        wait_until(lambda: upstreams() >= nodes, 30, "the edge to log both nodes' signalling")
    assert upstreams() >= nodes, signalling()


def test_a_worker_added_while_live_takes_calls_and_drained_workers_finish_theirs(
    deployment, chromium_on_caller, tmp_path
):
    register_vehicle(deployment)
    microphone = spoken_call_microphone(deployment, tmp_path, leading_silence=25)
    first_browser = chromium_on_caller(microphone)
    first = new_page(first_browser)
    started = time.time() * 1000
    first_call = start_call(first)
    expect(first.locator("#captions")).to_contain_text(GREETING, timeout=30000)
    with supervisor_page(first_browser) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        serving = stored_call(supervisor, first_call, lambda c: c["worker_host"])["worker_host"]

        # A third worker joins; nothing else restarts. Both first workers are drained (a
        # deploy): the one serving the call keeps it to its end, neither takes new calls.
        deployment.start_worker("worker3")
        for name in WORKERS_AT_START:
            deployment.stop_worker(name, drain=True)
        time.sleep(3)  # LiveKit hears that they are draining
        silence = tmp_path / "silence.wav"
        silence_wav(silence, seconds=60)
        second = new_page(chromium_on_caller(silence))
        second_call = start_call(second)
        expect(second.locator("#captions")).to_contain_text(GREETING, timeout=45000)
        placed = stored_call(supervisor, second_call, lambda c: c["worker_host"])
        assert placed["worker_host"] == "worker3"

        # The drained worker's call goes on: the caller speaks after the drain and is answered.
        hear_greeting_vin_and_answer(first, started)
        assert deployment.running(serving), "the draining worker quit during its call"
        first.get_by_role("button", name="Hang up").click()
        second.get_by_role("button", name="Hang up").click()
        call = stored_call(supervisor, first_call, lambda c: c["status"] == "ended")
        assert_spoken_call_stored(call, deployment)
        assert call["worker_host"] == serving
    # With its last call over, the drained worker exits by itself.
    wait_until(lambda: not deployment.running(serving), 60, f"{serving} to exit")
    assert deployment.processes[serving].returncode == 0


def test_a_call_whose_worker_host_dies_goes_on_with_another_worker(
    deployment, chromium_on_caller, tmp_path
):
    from agentworker.resume import BACK_SAID

    register_vehicle(deployment)
    # The caller speaks once the agent is back: LiveKit notices a lost agent in 15-25 s.
    microphone = spoken_call_microphone(deployment, tmp_path, leading_silence=60)
    chromium = chromium_on_caller(microphone)
    page = new_page(chromium)
    call_id = start_call(page)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        serving = stored_call(supervisor, call_id, lambda c: c["worker_host"])["worker_host"]
        deployment.stop_worker(serving, drain=False)  # the worker and its calls' processes

        expect(captions).to_contain_text(f"Assistant: {BACK_SAID}", timeout=60000)
        expect(captions).to_contain_text(f"You: {CALLER_SAYS}", timeout=45000)
        expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=30000)
        page.wait_for_timeout(3000)
        page.get_by_role("button", name="Hang up").click()
        call = stored_call(supervisor, call_id, lambda c: c["status"] == "ended" and c["summary"])
    texts = [(segment["speaker"], segment["text"]) for segment in call["segments"]]
    assert texts[:5] == [
        ("agent", ANNOUNCEMENT), ("agent", GREETING), ("agent", BACK_SAID),
        ("customer", CALLER_SAYS), ("agent", ANSWER),
    ], texts  # fmt: skip
    assert call["worker_host"] != serving and call["vehicle"]["vin"] == VIN
    back = next(e for e in call["events"] if e["type"] == "agent_back")
    assert back["payload"]["worker"] == call["worker_host"]
    asked = next(
        request for request in deployment.models.requests
        if SPOKEN_VIN in str(request["messages"][-1].get("content", ""))
    )  # fmt: skip
    assert GREETING in [m.get("content") for m in asked["messages"] if m["role"] == "assistant"]


def test_a_phone_call_through_the_media_hosts_sip_bridge_is_answered_and_stored(deployment):
    from tests.support.phone_on_a_host import CALLER, speech_8k

    register_vehicle(deployment)
    seconds = len(speech_8k()) / 8000
    deployment.models.transcripts = [ExpectedSpeech(CALLER_SAYS, seconds - 1.5, seconds + 3.0)]
    answer = deployment["caller"].run(
        [sys.executable, "-m", "tests.support.phone_on_a_host", "--bridge",
         deployment["media1"].address, "--line", PHONE_LINE, "--calls", "1"],
        env={"PATH": os.environ["PATH"], "HOME": str(deployment.folder), "PYTHONPATH": str(ROOT)},
        cwd=ROOT, timeout=300,
    )  # fmt: skip
    [heard] = json.loads(answer.stdout.strip().splitlines()[-1])
    assert heard["response"] is not None, heard  # the answer came back over RTP
    script = (
        "import json; from callcenter.models import Call; "
        "c = Call.objects.filter(channel='phone').latest('started_at'); "
        "print(json.dumps([c.caller, c.vehicle.vin if c.vehicle else None, "
        "[[s.speaker, s.text] for s in c.segments.order_by('sequence')], c.worker_host]))"
    )

    def stored():
        answer = deployment.manage("web1", "shell", "-c", script).stdout.strip().splitlines()
        found = json.loads(answer[-1])
        return found if len(found[2]) >= 4 else None

    caller, vin, segments, worker = wait_until(stored, 30, "the phone call's words stored")
    assert (caller, vin) == (CALLER, VIN)  # the number from the SIP From header
    # (The phone says its VIN once the line is quiet for a moment: the greeting may be cut.)
    assert segments[0] == ["agent", ANNOUNCEMENT]  # the line's recording policy: announce
    assert segments[1][0] == "agent" and GREETING.startswith(segments[1][1])
    assert segments[2:4] == [["customer", CALLER_SAYS], ["agent", ANSWER]]
    assert worker in {"worker1", "worker2", "worker3"}


def a_spoken_call_through_the_edge(cluster: Cluster, chromium_on_caller, folder: Path) -> dict:
    """A caller on the caller host says their VIN and hears the answer; the call as stored."""
    register_vehicle(cluster)
    microphone = spoken_call_microphone(cluster, folder, leading_silence=15)
    chromium = chromium_on_caller(microphone)
    page = new_page(chromium)
    started = time.time() * 1000
    call_id = start_call(page)
    hear_greeting_vin_and_answer(page, started)
    page.get_by_role("button", name="Hang up").click()
    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, cluster, then="/history/")
        return stored_call(supervisor, call_id, lambda c: c["status"] == "ended")


def test_a_caller_whose_udp_is_dropped_talks_over_ice_tcp(deployment, chromium_on_caller, tmp_path):
    deployment["caller"].firewall("-I", "OUTPUT", "1", "-p", "udp", "-j", "DROP")
    call = a_spoken_call_through_the_edge(deployment, chromium_on_caller, tmp_path)
    assert_spoken_call_stored(call, deployment)


def test_a_call_over_a_lossy_link_still_captures_the_vin(deployment, chromium_on_caller, tmp_path):
    deployment.lose_packets(2)  # of every 100, each way, on the caller's link
    call = a_spoken_call_through_the_edge(deployment, chromium_on_caller, tmp_path)
    assert_spoken_call_stored(call, deployment)


# --- A host lost under a live call (issue "A call survives the loss of a host") --------------
# Each test: one fault, under a call whose caller talks before and after it; every segment is
# stored once and in order, and what was stored before the fault is unchanged afterwards.


def assert_nothing_lost(before: dict, after: dict, spoken: list[tuple[str, str]]) -> None:
    """``after`` holds ``before``'s segments and events unchanged, and the segments spoken,
    each once and in order."""
    items = [*after["segments"], *after["events"]]
    kept = {item["sequence"]: item for item in items}
    for item in [*before["segments"], *before["events"]]:
        assert kept.get(item["sequence"]) == item, (item, kept.get(item["sequence"]))
    assert len(kept) == len(items), sorted(item["sequence"] for item in items)
    segments = sorted(after["segments"], key=lambda segment: segment["sequence"])
    texts = [(segment["speaker"], segment["text"]) for segment in segments]
    assert texts[: len(spoken)] == spoken, texts


def expect_monitor_to_show(monitor, call: dict, seconds: float = 60) -> None:
    """The monitor's transcript of the call comes to be what is stored: each item once, none
    missing, in order."""
    stored = sorted(item["sequence"] for item in [*call["segments"], *call["events"]])
    deadline = time.monotonic() + seconds
    while True:
        shown = monitor.locator("#transcript li").evaluate_all(
            "items => items.map(li => Number(li.dataset.sequence))"
        )
        if shown == stored or time.monotonic() > deadline:
            break
        monitor.wait_for_timeout(250)
    assert shown == stored, (monitor.locator("#connection").inner_text(), call["events"])


SPOKEN = [
    ("agent", ANNOUNCEMENT), ("agent", GREETING), ("customer", CALLER_SAYS), ("agent", ANSWER)
]  # fmt: skip


def test_supervisors_on_a_dead_web_host_resume_on_the_other_and_calls_go_on(
    deployment, chromium_on_caller, tmp_path
):
    # The caller speaks well after web1 is gone: its supervisors are reconnecting meanwhile.
    desk, monitors, caller, call_id, started = a_call_on_every_web_hosts_monitor(
        deployment, chromium_on_caller, tmp_path, leading_silence=30
    )
    before = api(monitors[0], f"/api/calls/{call_id}/")

    deployment.lose_web_host("web1")
    # The caller's voice never touched the web hosts: the call goes on, the VIN is answered.
    hear_greeting_vin_and_answer(caller, started)
    # A new call starts through the edge, which sends it to the web host that is left.
    another = new_page(desk)
    another_call = start_call(another)
    expect(another.locator("#captions")).to_contain_text(GREETING, timeout=45000)
    another.get_by_role("button", name="Hang up").click()
    caller.get_by_role("button", name="Hang up").click()

    # Every supervisor is live again (the edge notices a silent socket within 60 s) and sees
    # the call as stored: each item once, none missing.
    call = stored_call(monitors[0], call_id, lambda c: c["status"] == "ended", seconds=90)
    assert_nothing_lost(before, call, SPOKEN)
    for monitor in monitors:
        expect(monitor.locator("#connection")).to_have_text("Live", timeout=90000)
        expect_monitor_to_show(monitor, call)
    # (Hung up at the greeting's caption, which runs ahead of its voice: it may be cut.)
    segments = stored_call(monitors[0], another_call, lambda c: len(c["segments"]) >= 2)
    announced, greeting = segments["segments"][:2]
    assert (announced["speaker"], announced["text"]) == ("agent", ANNOUNCEMENT)
    assert greeting["speaker"] == "agent" and GREETING.startswith(greeting["text"]), greeting


def test_a_call_goes_on_while_the_database_is_unreachable_for_30_seconds(
    deployment, chromium_on_caller, tmp_path
):
    register_vehicle(deployment)
    # The caller speaks after the outage; the greeting ends (and is written) within it.
    microphone = spoken_call_microphone(deployment, tmp_path, leading_silence=50)
    chromium = chromium_on_caller(microphone)
    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        page = new_page(chromium)
        started = time.time() * 1000
        call_id = start_call(page)
        expect(page.locator("#captions")).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
        before = api(supervisor, f"/api/calls/{call_id}/")
        with deployment.database_unreachable():
            time.sleep(30)
            expect(page.locator("#call-app")).to_have_attribute("data-state", "inCall")
        hear_greeting_vin_and_answer(page, started)
        page.get_by_role("button", name="Hang up").click()
        call = stored_call(supervisor, call_id, lambda c: c["status"] == "ended", seconds=90)
    assert_nothing_lost(before, call, SPOKEN)
    assert call["vehicle"]["vin"] == VIN
    # The outage did hold up the call's writes, which were stored once it was over.
    worker_log = deployment.log(call["worker_host"]).read_text(errors="replace")
    assert f"call {call_id}: writing" in worker_log


LIST_PHONE_NUMBERS = """
import asyncio
from livekit import api
from callcenter.livekit_server import livekit_api

async def numbers():
    client = livekit_api()
    try:
        trunks = await client.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        print([number for trunk in trunks.items for number in trunk.numbers])
    finally:
        await client.aclose()

asyncio.run(numbers())
"""


def test_a_call_goes_on_while_redis_restarts_and_the_monitor_catches_up(
    deployment, chromium_on_caller, tmp_path
):
    register_vehicle(deployment)
    microphone = spoken_call_microphone(deployment, tmp_path, leading_silence=25)
    chromium = chromium_on_caller(microphone)
    with supervisor_page(chromium) as monitor:
        log_in(monitor, deployment)
        expect(monitor.locator("#connection")).to_have_text("Live", timeout=15000)
        page = new_page(chromium)
        started = time.time() * 1000
        call_id = start_call(page)
        monitor.locator(f"[data-call-id='{call_id}']").first.click()
        expect(monitor.locator("#transcript")).to_contain_text(GREETING, timeout=30000)
        before = api(monitor, f"/api/calls/{call_id}/")

        deployment.restart_redis()
        hear_greeting_vin_and_answer(page, started)
        # LiveKit keeps the phone lines in Redis: the desk's line is still there.
        assert PHONE_LINE in deployment.manage("web1", "shell", "-c", LIST_PHONE_NUMBERS).stdout
        # LiveKit's nodes and dispatch work on the new Redis: a new call is answered.
        silence = tmp_path / "silence.wav"
        silence_wav(silence, seconds=60)
        another = new_page(chromium_on_caller(silence))
        another_call = start_call(another)
        expect(another.locator("#captions")).to_contain_text(GREETING, timeout=45000)
        another.get_by_role("button", name="Hang up").click()
        page.get_by_role("button", name="Hang up").click()
        call = stored_call(monitor, call_id, lambda c: c["status"] == "ended", seconds=60)
        assert_nothing_lost(before, call, SPOKEN)
        expect(monitor.locator("#connection")).to_have_text("Live", timeout=60000)
        expect_monitor_to_show(monitor, call)
    assert another_call != call_id


# Every state the call page passes through, however briefly, into window.callStates.
RECORD_CALL_STATES = """() => {
  const app = document.getElementById("call-app");
  window.callStates = [app.dataset.state];
  new MutationObserver(() => window.callStates.push(app.dataset.state))
    .observe(app, { attributes: true, attributeFilter: ["data-state"] });
}"""


def test_a_call_whose_media_node_dies_reconnects_to_the_other_and_goes_on(
    deployment, chromium_on_caller, tmp_path
):
    from agentworker.resume import BACK_SAID

    register_vehicle(deployment)
    # The caller speaks 25 s after their page reconnects: livekit-client restarts the
    # microphone on a full reconnect, and Chromium's fake one plays its file from the start.
    microphone = spoken_call_microphone(deployment, tmp_path, leading_silence=25)
    chromium = chromium_on_caller(microphone)
    page = new_page(chromium)
    call_id = start_call(page)
    page.evaluate(RECORD_CALL_STATES)
    captions = page.locator("#captions")
    expect(captions).to_contain_text(f"Assistant: {GREETING}", timeout=30000)
    with supervisor_page(chromium) as supervisor:
        log_in(supervisor, deployment, then="/history/")
        placed = stored_call(supervisor, call_id, lambda c: c["media_node"] and c["segments"])
        lost = next(name for name in MEDIA if deployment[name].address == placed["media_node"])
        left = next(name for name in MEDIA if name != lost)
        deployment.lose_media_host(lost)

        lost_at = page_time(page)
        # The page reconnects by itself, to the other node. The call's room is made again
        # there, and the agent is back and says so once: its job rejoined the room, or a new
        # job took the call over. The caller speaks after the reconnection and is answered.
        expect(captions).to_contain_text(f"Assistant: {BACK_SAID}", timeout=60000)
        page.wait_for_function(HEARD, arg=lost_at, timeout=20000)
        assert "reconnecting" in page.evaluate("window.callStates"), "the caller was not told"
        expect(captions).to_contain_text(f"You: {CALLER_SAYS}", timeout=60000)
        expect(captions).to_contain_text(f"Assistant: {ANSWER}", timeout=30000)
        page.wait_for_timeout(3000)
        page.get_by_role("button", name="Hang up").click()
        call = stored_call(supervisor, call_id, lambda c: c["status"] == "ended" and c["summary"])
        # New calls land on the node that is left.
        silence = tmp_path / "silence.wav"
        silence_wav(silence, seconds=60)
        another = new_page(chromium_on_caller(silence))
        another_call = start_call(another)
        expect(another.locator("#captions")).to_contain_text(GREETING, timeout=45000)
        assert stored_call(supervisor, another_call, lambda c: c["media_node"])["media_node"] == (
            deployment[left].address
        )
        another.get_by_role("button", name="Hang up").click()

        # A job another one took over from (if one did) leaves the call as it is.
        time.sleep(5)
        after = stored_call(supervisor, call_id)
    assert_nothing_lost(placed, call, [*SPOKEN[:2], ("agent", BACK_SAID), *SPOKEN[2:]])
    [back] = [e for e in call["events"] if e["type"] == "agent_back"]
    assert 0 < back["payload"]["seconds"] < 60, back
    assert call["media_node"] == deployment[left].address
    assert (after["status"], after["failure_reason"]) == ("ended", "")
    assert after["segments"] == call["segments"] and after["summary"] == call["summary"]
