"""The whole product on this machine for the end-to-end tests (a pytest plugin).

Real: daphne serving the app, livekit-server (``manage.py runlivekit``, webhooks to that daphne),
the agent worker (``manage.py runagent dev``, dispatched by the server), PostgreSQL (daphne and
the worker reach it through PgBouncer in transaction mode, as a deployment with many calls
does), Redis, moto's S3 server and Chromium with a fake microphone playing an espeak-ng WAV.
Stand-ins only for what is remote: the LLM, speech-to-text and text-to-speech are the scripted
OpenAI-compatible server, run in a thread of the test process so that each test writes its
script and reads what the worker sent.

Every process writes its output under ``artifacts/e2e/``; a failing test also leaves its
screenshot, the browser console and the part of each log written during the test there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.s3 import CREDENTIALS, S3Server, free_port
from tests.support.scripted_llm import Reply, ScriptedLLMServer, espeak_wav, running_in_thread

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
AGENT_NAME = "callcenter-e2e-agent"
# The stack's call-start limit: high, so that tests start as many calls as they need.
CALL_START_RATE = "1000/minute"
# A sitecustomize that records every host the worker's processes look up or connect to.
OUTBOUND_HOSTS_RECORDER = Path(__file__).resolve().parent / "outbound_hosts"
CHROMIUM_VOICE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def wait_for_port(port: int, process: subprocess.Popen, name: str, log: Path, seconds=60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}): {tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port} within {seconds} s: {tail(log)}")


def tail(log: Path, characters: int = 3000) -> str:
    return log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"


@dataclass
class ServerProcess:
    """One server of the stack as a subprocess in its own process group, logging to a file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children (job processes) go with it
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, number: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, number)

    def kill(self) -> None:
        """SIGKILL the process and everything it started, as a crash would."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.running:
            self.signal_group(signal.SIGKILL)  # leftovers of a dead parent
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def start_and_wait_registered(worker: ServerProcess, seconds: float = 90) -> None:
    """Start an agent worker and wait until livekit-server has registered it."""
    offset = worker.log.stat().st_size if worker.log.exists() else 0
    worker.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not worker.running:
            raise RuntimeError(f"the agent worker exited: {tail(worker.log)}")
        if "registered worker" in worker.log.read_text(errors="replace")[offset:]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the agent worker did not register: {tail(worker.log)}")


@dataclass
class VoiceStack:
    """The running product: its URLs, its processes and the scripted models' server."""

    web_url: str
    livekit_url: str
    api_key: str
    api_secret: str
    models: ScriptedLLMServer
    s3: S3Server
    web: ServerProcess
    livekit: ServerProcess
    worker: ServerProcess
    sip: ServerProcess
    sip_port: int
    processes: list[ServerProcess] = field(default_factory=list)
    second_web: str = ""

    def worker_outbound_hosts(self) -> set[str]:
        """Every host the worker's processes have looked up or connected to so far."""
        log = self.worker.log.with_name("worker-outbound-hosts.log")
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return {line.split(" ", 2)[2] for line in lines if line.count(" ") >= 2}

    def wait_for_heartbeat(self, seconds: float = 15) -> None:
        """Until the worker has said it is registered (agentworker.heartbeat) in this test's
        database: without it the web app answers call starts that no worker is there."""
        from callcenter.models import WorkerHeartbeat

        deadline = time.monotonic() + seconds
        while not WorkerHeartbeat.objects.filter(agent_name=AGENT_NAME).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the worker never said it is registered: {tail(self.worker.log)}"
                )
            time.sleep(0.1)

    def second_web_url(self) -> str:
        """A second daphne process of the product, as a second web host runs it (the same
        database and channel layer), started once for the stack; its URL."""
        if not self.second_web:
            port = free_port()
            command = [*self.web.command]
            command[command.index("-p") + 1] = str(port)
            web = ServerProcess(
                "daphne-2", command, self.web.env, self.web.log.with_name("daphne-2.log")
            )
            self.processes.append(web)
            web.start()
            wait_for_port(port, web.process, "the second daphne", web.log)
            self.second_web = f"http://127.0.0.1:{port}"
        return self.second_web

    def start_worker(self) -> None:
        """(Re)start the agent worker and wait until livekit-server has registered it."""
        start_and_wait_registered(self.worker)

    def wait_for_job_end(self, call_id, seconds: float = 120) -> None:
        """Wait until the worker has finished the call's job (recording, summary, writes), so
        that nothing it writes lands after the test's database is emptied."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if f"call {call_id} finished" in self.worker.log.read_text(errors="replace"):
                return
            time.sleep(0.25)
        raise RuntimeError(f"the job of call {call_id} did not finish: {tail(self.worker.log)}")

    def script(self, respond: Callable[[dict], Reply], transcripts: list | None = None) -> None:
        """What the LLM answers to each request, and what speech-to-text hears, in order."""
        self.models.script = respond
        self.models._replies = None
        self.models.transcripts = list(transcripts or [])
        self.models.requests.clear()
        self.models.audio.clear()
        self.models.unexpected_audio.clear()
        self.models.spoken.clear()


def _process_env(**extra: str) -> dict[str, str]:
    from tests.conftest import test_database_url

    return {**os.environ, "DATABASE_URL": test_database_url(), **extra}


@pytest.fixture(scope="session")
def voice_stack(
    django_db_setup, django_db_blocker, frontend_bundles, pooled_database
) -> Iterator[VoiceStack]:
    """daphne, livekit-server and the agent worker on the test database, started once."""
    from tests.services import IN_CI, ON_POSTGRES, ON_REDIS
    from tests.support.local_services import POSTGRES_ADDRESS, REDIS_ADDRESS

    missing = []
    if not (ON_POSTGRES and ON_REDIS):
        missing.append(
            f"PostgreSQL and Redis on {POSTGRES_ADDRESS[0]}:{POSTGRES_ADDRESS[1]} and "
            f":{REDIS_ADDRESS[1]}"
        )
    try:
        from callcenter.management.commands.runlivekit import livekit_server_binary
        from telephony.management.commands.runsip import livekit_sip_binary

        livekit_server_binary()
        livekit_sip_binary()
    except Exception as error:
        missing.append(str(error))
    for tool in ("espeak-ng", "sox", "sipp"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            missing.append(f"{tool} (make test installs it)")
    if missing:
        reason = "end-to-end tests need " + "; ".join(missing) + " (make test sets them up)"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    logs = ARTIFACTS / "logs"
    for old in logs.glob("*.log"):
        old.unlink()
    speech_cache = ARTIFACTS / "speech"  # the kept greetings: none from an earlier run
    shutil.rmtree(speech_cache, ignore_errors=True)
    web_port, livekit_port, udp_port = free_port(), free_port(), free_port()
    sip_port = free_port()
    # livekit-server and livekit-sip meet in Redis, in a database of this checkout's own (two
    # checkouts' servers in one database would route each other's rooms).
    from tests.services import CHECKOUT_ID
    from tests.support.local_services import redis_url

    livekit_redis = redis_url(int(CHECKOUT_ID, 16) % 14 + 2)
    rtp_base = 30000 + int(CHECKOUT_ID, 16) % 300 * 100
    key, secret = "e2e-key", secrets.token_urlsafe(32)
    s3 = S3Server()
    s3.start()
    s3.client().create_bucket(Bucket=s3.bucket)
    models = ScriptedLLMServer([])
    with running_in_thread(models):
        common = {
            "LIVEKIT_URL": f"ws://127.0.0.1:{livekit_port}",
            "LIVEKIT_API_KEY": key,
            "LIVEKIT_API_SECRET": secret,
            "LIVEKIT_AGENT_NAME": AGENT_NAME,
            "OPENAI_BASE_URL": models.base_url,
            "OPENAI_API_KEY": "scripted",
            "LLM_MODEL": "scripted",
            "RECORDING_MODE": "agent",
            "RECORDING_SPOOL_DIR": str(ARTIFACTS / "recording-spool"),
            "SPEECH_CACHE_DIR": str(speech_cache),
            "REVIEW_MIN_SECONDS": "0",  # every test call is reviewed, however short
            "S3_BUCKET": s3.bucket,
            "S3_ENDPOINT_URL": s3.endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "S3_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "S3_ADDRESSING_STYLE": "path",
            "CALL_START_RATE": CALL_START_RATE,
            # Each test empties the database; the worker says it is there again within 1 s.
            "WORKER_HEARTBEAT_SECONDS": "1",
            "PHONE_TRANSFER_AFTER_SECONDS": "3",
            "HANDOFF_RING_SECONDS": "8",
            "HANDOFF_WAIT_SECONDS": "30",
            "CALLBACK_RINGING_SECONDS": "4",
            **pooled_database,
        }
        python = sys.executable
        web = ServerProcess(
            "daphne",
            [
                python,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(web_port),
                "config.asgi:application",
            ],
            _process_env(**common, DEBUG="true"),
            logs / "daphne.log",
        )
        livekit = ServerProcess(
            "livekit-server",
            [
                python,
                "manage.py",
                "runlivekit",
                "--port",
                str(livekit_port),
                "--udp-port",
                str(udp_port),
                "--webhook-url",
                f"http://127.0.0.1:{web_port}/livekit/webhook/",
            ],
            _process_env(**common, LIVEKIT_REDIS_URL=livekit_redis),
            logs / "livekit-server.log",
        )
        sip = ServerProcess(
            "livekit-sip",
            [
                python, "manage.py", "runsip", "--sip-port", str(sip_port),
                "--rtp-ports", f"{rtp_base}-{rtp_base + 99}",
            ],
            _process_env(**common, LIVEKIT_REDIS_URL=livekit_redis),
            logs / "livekit-sip.log",
        )  # fmt: skip
        outbound = logs / "worker-outbound-hosts.log"
        outbound.unlink(missing_ok=True)
        worker = ServerProcess(
            "worker",
            [python, "manage.py", "runagent", "dev"],
            _process_env(
                **common,
                LOG_LEVEL="INFO",
                PYTHONPATH=os.pathsep.join(filter(None, [str(OUTBOUND_HOSTS_RECORDER),
                                                         os.environ.get("PYTHONPATH")])),
                OUTBOUND_HOSTS_LOG=str(outbound),
            ),
            logs / "worker.log",
        )  # fmt: skip
        stack = VoiceStack(
            web_url=f"http://127.0.0.1:{web_port}",
            livekit_url=common["LIVEKIT_URL"],
            api_key=key,
            api_secret=secret,
            models=models,
            s3=s3,
            web=web,
            livekit=livekit,
            worker=worker,
            sip=sip,
            sip_port=sip_port,
            processes=[web, livekit, sip, worker],
        )
        try:
            web.start()
            wait_for_port(web_port, web.process, "daphne", web.log)
            livekit.start()
            wait_for_port(livekit_port, livekit.process, "livekit-server", livekit.log)
            sip.start()
            stack.start_worker()
            yield stack
        finally:
            for process in reversed(stack.processes):
                process.stop()
            s3.stop()


@pytest.fixture
def e2e_stack(voice_stack, transactional_db) -> VoiceStack:
    """The stack for one test, with a worker running (a test may have killed the last one)."""
    if not voice_stack.worker.running:
        voice_stack.worker.stop()
        voice_stack.start_worker()
    voice_stack.wait_for_heartbeat()
    return voice_stack


def speech_wav(path: Path, text: str, *, leading_silence: float) -> float:
    """Write ``text`` spoken by espeak-ng after ``leading_silence`` seconds, as the 48 kHz WAV
    a fake microphone plays; returns how long the speech itself lasts."""
    speech = path.with_suffix(".speech.wav")
    speech.write_bytes(espeak_wav(text, rate=48000))
    with wave.open(str(speech)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds > 1, f"espeak-ng spoke {seconds} s of {text!r}"
    subprocess.run(["sox", str(speech), str(path), "pad", str(leading_silence), "1"], check=True)
    return seconds


def silence_wav(path: Path, seconds: float = 60) -> None:
    """A fake microphone that hears nothing (Chromium's default device beeps)."""
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds)],
        check=True,
    )


@pytest.fixture
def caller_browser(browser, request):
    """Opens a Chromium whose microphone plays a given WAV once; the page it returns keeps its
    console messages in ``page.console_lines``. A failing test leaves its screenshot, console
    and the stack's logs of the test under artifacts/e2e/<test>/."""
    opened = []
    log_offsets = {
        log: log.stat().st_size for log in (ARTIFACTS / "logs").glob("*.log") if log.exists()
    }

    def open_page(microphone_wav: Path):
        chromium = browser.browser_type.launch(
            executable_path=browser_path(),
            args=[
                *CHROMIUM_VOICE_ARGS,
                f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
            ],
        )
        context = chromium.new_context(permissions=["microphone"])
        page = context.new_page()
        page.console_lines = []
        page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda error: page.console_lines.append(f"pageerror: {error}"))
        opened.append((chromium, page))
        return page

    yield open_page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for number, (chromium, page) in enumerate(opened):
        if failed:
            folder = ARTIFACTS / request.node.name
            folder.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=folder / f"page-{number}.png", full_page=True)
            except Exception as error:  # a crashed page still leaves its console
                (folder / f"page-{number}.png.error").write_text(str(error))
            (folder / f"console-{number}.txt").write_text("\n".join(page.console_lines))
        chromium.close()
    if failed:
        folder = ARTIFACTS / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        for log in (ARTIFACTS / "logs").glob("*.log"):
            with log.open("rb") as whole:
                whole.seek(log_offsets.get(log, 0))
                (folder / log.name).write_bytes(whole.read())


def browser_path() -> str:
    from tests.conftest import CHROMIUM

    return CHROMIUM


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so fixtures know at teardown whether it failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# Watches the level of every audio track the page plays: window.remoteLevels holds
# [time in ms, RMS, track number (1 = the first the page played)] every 50 ms, so a test can
# tell whether, when and from which track something was heard.
REMOTE_AUDIO_METER = """
window.remoteLevels = [];
new MutationObserver(() => {
  for (const element of document.querySelectorAll("audio")) {
    if (element.dataset.metered || !element.srcObject) continue;
    const track = window.meteredTracks = (window.meteredTracks || 0) + 1;
    element.dataset.metered = String(track);
    const context = new AudioContext();
    context.resume();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(element.srcObject).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      window.remoteLevels.push([Date.now(), rms, track]);
    }, 50);
  }
}).observe(document, { childList: true, subtree: true });
// The page's own microphone meter, sampled too: when the agent did not hear the caller, this
// tells whether the fake microphone played at all.
window.microphoneLevels = [];
setInterval(() => {
  const meter = document.getElementById("mic-level");
  if (meter && meter.value > 0) window.microphoneLevels.push([Date.now(), meter.value]);
}, 100);
"""
HEARD = "(since) => window.remoteLevels.some(([at, rms]) => at > since && rms > 0.01)"


def heard_from(identity_prefix: str) -> str:
    """For a page metered by ``REMOTE_AUDIO_METER`` whose audio elements name their
    participant (``data-from``): whether a track of the participant whose identity starts
    with ``identity_prefix`` (the agent's voice or its sounds, its brief's, a caller's, a
    supervisor's, a desk person's) was heard after ``since`` (ms, the page's clock; 0 by
    default)."""
    return f"""(since = 0) => {{
  const tracks = [...document.querySelectorAll('audio[data-from^="{identity_prefix}"]')]
    .map((element) => Number(element.dataset.metered)).filter(Boolean);
  return window.remoteLevels.some(([at, rms, t]) => tracks.includes(t) && at > since
                                                    && rms > 0.01);
}}"""


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"waited {seconds} s for {what}")


def page_time(page) -> float:
    return page.evaluate("Date.now()")
