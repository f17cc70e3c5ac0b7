"""A phone for the SIP tests: SIPp (Debian's sip-tester) places the call, and an RTP peer in
the test (one UDP socket, both directions, G.711 μ-law at 8 kHz) speaks and listens, so the
test knows exactly what it played and measures what came back."""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import subprocess
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PCMU = 0
TELEPHONE_EVENT = 101
FRAME_SAMPLES = 160  # 20 ms at 8 kHz


def reply(status: str, *, to_tag: bool = False, contact: str = "", cseq: str = "") -> str:
    """A SIPp <send> of a response to the last request received, in its dialog: ``to_tag``
    adds this phone's tag (a first answer), ``contact`` a Contact user, ``cseq`` another
    CSeq line (a final answer to the INVITE after a CANCEL)."""
    lines = [
        f"SIP/2.0 {status}",
        "[last_Via:]",
        "[last_From:]",
        "[last_To:];tag=[pid]SIPpTag01[call_number]" if to_tag else "[last_To:]",
        "[last_Call-ID:]",
        cseq or "[last_CSeq:]",
    ]
    if contact:
        lines.append(f"Contact: <sip:{contact}@[local_ip]:[local_port]>")
    lines.append("Content-Length: 0")
    body = "\n".join(lines)
    return f"  <send>\n    <![CDATA[\n{body}\n    ]]>\n  </send>\n"


# The phone's media offer or answer: G.711 μ-law and RFC 2833 key presses, at the test's
# RTP peer ({rtp_port}).
SDP = """v=0
o=- 1 1 IN IP4 {rtp_ip}
s=call
c=IN IP4 {rtp_ip}
t=0 0
m=audio {rtp_port} RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
"""

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a caller dials the service desk">
  <send retrans="500">
    <![CDATA[
INVITE sip:{dialled}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true">
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="m,port"/>
      <exec command="echo [$port] > {port_file} # from [$m]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
ACK sip:{dialled}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
    ]]>
  </send>
{ending}
</scenario>
"""

# The caller talks for a while, then hangs up.
HANG_UP = """  <pause milliseconds="{talk_ms}"/>
  <send retrans="500">
    <![CDATA[
BYE sip:{dialled}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

# The caller stays on the line until the bridge transfers them (SIP REFER): the phone accepts,
# reports the new call answered (NOTIFY with a sipfrag 200), and the bridge hangs up.
TRANSFERRED = (
    """  <recv request="REFER" timeout="{talk_ms}">
    <action>
      <ereg regexp="&lt;([^&gt;]+)&gt;" search_in="hdr" header="Refer-To:" assign_to="r,to"/>
      <exec command="echo '[$to]' > {refer_file} # [$r]"/>
    </action>
  </recv>
"""
    + reply("202 Accepted", contact="{caller}")
    + """  <send retrans="500">
    <![CDATA[
NOTIFY sip:{dialled}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{caller}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 NOTIFY
Contact: <sip:{caller}@[local_ip]:[local_port]>
Event: refer
Subscription-State: terminated;reason=noresource
Max-Forwards: 70
Content-Type: message/sipfrag
Content-Length: [len]

SIP/2.0 200 OK
    ]]>
  </send>
  <recv response="200"/>
  <recv request="BYE" timeout="30000"/>
"""
    + reply("200 OK")
)


def ulaw_decode(payload: bytes) -> np.ndarray:
    """G.711 μ-law bytes as 16-bit samples (ITU-T G.711)."""
    codes = ~np.frombuffer(payload, dtype=np.uint8)
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa.astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(sign, -magnitude, magnitude).astype(np.int16)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """16-bit samples as G.711 μ-law bytes."""
    pcm = samples.astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def wav_at_8k(path: Path) -> np.ndarray:
    """A mono 16-bit WAV, resampled to 8 kHz with sox."""
    resampled = path.with_suffix(".8k.wav")
    subprocess.run(
        ["sox", str(path), "-r", "8000", "-c", "1", "-b", "16", str(resampled)],
        check=True, capture_output=True,
    )  # fmt: skip
    with wave.open(str(resampled)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)


@dataclass
class RtpPeer:
    """The phone's audio: sends μ-law frames in real time, keeps what arrives."""

    address: str = "127.0.0.1"  # where it listens (the phone's host)
    sock: socket.socket = field(default_factory=lambda: socket.socket(type=socket.SOCK_DGRAM))
    received: list[tuple[float, bytes]] = field(default_factory=list)
    remote: tuple[str, int] | None = None
    _sequence: int = 0
    _timestamp: int = 0
    _running: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sock.bind((self.address, 0))
        self.sock.settimeout(0.2)
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _listen(self) -> None:
        while self._running:
            try:
                data, _ = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            if len(data) > 12 and data[1] & 0x7F == PCMU:
                self.received.append((time.monotonic(), data[12:]))

    def _packet(self, payload: bytes, payload_type: int = PCMU, marker: bool = False) -> bytes:
        with self._lock:
            return self._numbered(payload, payload_type, marker)

    def _numbered(self, payload: bytes, payload_type: int, marker: bool) -> bytes:
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | payload_type, self._sequence & 0xFFFF,
            self._timestamp & 0xFFFFFFFF, 0x1234ABCD,
        )  # fmt: skip
        self._sequence += 1
        return header + payload

    def play(self, samples: np.ndarray) -> None:
        """Send ``samples`` (8 kHz) as 20 ms packets at real-time pace."""
        assert self.remote, "no remote media address yet"
        started = time.monotonic()
        for index in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            if not self._running:
                return  # hung up
            frame = ulaw_encode(samples[index : index + FRAME_SAMPLES])
            with contextlib.suppress(OSError):  # closed between the check and the send
                self.sock.sendto(self._packet(frame), self.remote)
            self._timestamp += FRAME_SAMPLES
            delay = started + (index // FRAME_SAMPLES + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def press(self, digits: str) -> None:
        """Key presses as RFC 2833 telephone events (100 ms each, 100 ms apart), alongside
        whatever audio is playing."""
        assert self.remote, "no remote media address yet"
        for digit in digits:
            event = "0123456789*#".index(digit)
            stamp = self._timestamp
            for step in range(1, 6):
                end = step == 5
                payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, step * 160)
                for _copy in range(3 if end else 1):
                    packet = self._packet(payload, TELEPHONE_EVENT, marker=step == 1)
                    self.sock.sendto(
                        packet[:4] + struct.pack("!I", stamp) + packet[8:], self.remote
                    )
                time.sleep(0.02)
            time.sleep(0.1)

    def silence(self, seconds: float) -> None:
        self.play(np.zeros(int(8000 * seconds), dtype=np.int16))

    def stay_on_the_line(self) -> None:
        """Send silence in the background until closed, and what ``say`` is given when given."""
        self._to_say: queue.Queue[np.ndarray] = queue.Queue()
        threading.Thread(target=self._talk, daemon=True).start()

    def say(self, samples: np.ndarray) -> None:
        self._to_say.put(samples)

    def _talk(self) -> None:
        while self._running:
            try:
                self.play(self._to_say.get_nowait())
            except queue.Empty:
                self.silence(0.2)

    def level_since(self, since: float) -> float:
        """RMS (0-1) of the audio received since ``since`` (time.monotonic())."""
        chunks = [ulaw_decode(p) for at, p in list(self.received) if at >= since]
        if not chunks:
            return 0.0
        samples = np.concatenate(chunks).astype(np.float64) / 32768
        return float(np.sqrt(np.mean(samples**2)))

    def close(self) -> None:
        self._running = False
        self._listener.join(2)
        self.sock.close()


def start_sipp_call(
    folder: Path,
    *,
    sip_port: int,
    caller: str,
    dialled: str,
    rtp_port: int,
    talk_seconds: float,
    until_transferred: bool = False,
    local_ip: str = "127.0.0.1",
    bridge_ip: str = "127.0.0.1",
) -> tuple[subprocess.Popen, Path]:
    """SIPp dialling ``dialled`` from ``caller``, its SDP pointing at ``rtp_port``; it hangs
    up after ``talk_seconds``, or (``until_transferred``) waits that long for a REFER and
    writes its Refer-To to ``folder/refer_to``. The phone is at ``local_ip``, the bridge at
    ``bridge_ip``. Returns the process and the file where it writes the bridge's media port
    once answered."""
    port_file = folder / "remote_media_port"
    scenario = folder / "dial.xml"
    words = {
        "caller": caller, "dialled": dialled, "talk_ms": int(talk_seconds * 1000),
        "refer_file": folder / "refer_to",
    }  # fmt: skip
    ending = (TRANSFERRED if until_transferred else HANG_UP).format(**words)
    scenario.write_text(
        SCENARIO.format(
            **words,
            sdp=SDP.format(rtp_port=rtp_port, rtp_ip=local_ip),
            port_file=port_file,
            ending=ending,
        )
    )
    log = folder / "sipp.log"
    process = subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-m", "1", "-i", local_ip, "-p", "0",
         "-timeout", f"{int(talk_seconds) + 60}s", "-nostdin",
         "-trace_err", "-error_file", str(folder / "sipp-errors.log"),
         f"{bridge_ip}:{sip_port}"],
        cwd=folder, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, port_file


# The customer's phone for callbacks (SIPp as the called side): it answers, is busy, or rings
# without an answer. Each writes the bridge's media port (if any) where the test reads it.
# SIPp refuses a scenario that keeps a variable it never uses.
KEEP_CONTACT = (
    '      <ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" assign_to="target"/>\n'
)


def answering(name: str, after_answer: str, *, hangs_up: bool = False) -> str:
    """A scenario of a phone that rings, answers with media at the test's RTP peer, and then
    acts out ``after_answer`` (if it ``hangs_up``, the caller's Contact is ``[$target]``)."""
    return (
        f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <recv request="INVITE">
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="m,port"/>
      <exec command="echo [$port] > {{port_file}} # from [$m]"/>
{KEEP_CONTACT if hangs_up else ""}    </action>
  </recv>
"""
        + reply("180 Ringing", to_tag=True, contact="customer")
        + """  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:customer@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}    ]]>
  </send>
"""
        + after_answer
        + "</scenario>\n"
    )


ANSWERING = answering(
    "the customer answers a callback",
    """  <recv request="ACK"/>
  <recv request="BYE" timeout="{talk_ms}"/>
"""
    + reply("200 OK"),
)

HANGS_UP = answering(
    "the customer answers, and hangs up at once",
    """  <recv request="ACK">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="them"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="us"/>
    </action>
  </recv>
  <pause milliseconds="1500"/>
  <send retrans="500">
    <![CDATA[
BYE [$target] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$us]
To: [$them]
[last_Call-ID:]
CSeq: 1 BYE
Contact: <sip:customer@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
""",
    hangs_up=True,
)

BUSY = (
    """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="the customer is busy">
  <recv request="INVITE"/>
"""
    + reply("486 Busy Here", to_tag=True)
    + """  <recv request="ACK"/>
</scenario>
"""
)

NO_ANSWER = (
    """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="nobody picks up">
  <recv request="INVITE"/>
"""
    + reply("180 Ringing", to_tag=True, contact="customer")
    + """  <recv request="CANCEL" timeout="{talk_ms}"/>
"""
    + reply("200 OK", to_tag=True)
    + """"""
    + reply("487 Request Terminated", to_tag=True, cseq="CSeq: [cseq] INVITE")
    + """  <recv request="ACK" optional="true"/>
</scenario>
"""
)


def start_sipp_phone(
    folder: Path,
    scenario: str,
    *,
    port: int,
    rtp_port: int = 0,
    talk_seconds: float = 60,
    calls: int = 1,
    trace: bool = False,
) -> tuple[subprocess.Popen, Path]:
    """SIPp waiting on ``port`` for the bridge to dial it, acting out ``scenario`` for
    ``calls`` calls; ``trace``: every message it gets, with its time, in ``folder``."""
    port_file = folder / "remote_media_port"
    path = folder / "phone.xml"
    path.write_text(
        scenario.replace("{port_file}", str(port_file))
        .replace("{sdp}", SDP.format(rtp_port=rtp_port, rtp_ip="127.0.0.1"))
        .replace("{talk_ms}", str(int(talk_seconds * 1000)))
    )
    log = folder / "sipp-phone.log"
    process = subprocess.Popen(
        ["sipp", "-sf", str(path), "-m", str(calls), "-i", "127.0.0.1", "-p", str(port),
         "-nostdin", "-timeout", f"{int(talk_seconds) + 60}s", "-trace_err",
         "-error_file", str(folder / "sipp-phone-errors.log"),
         *(["-trace_msg"] if trace else [])],
        cwd=folder, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, port_file
