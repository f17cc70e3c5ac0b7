"""A phone caller on a host of the cluster (its caller host): SIPp dials the
desk's line on the media host's livekit-sip, and an RTP peer (G.711 μ-law, as a phone trunk
sends) waits for the greeting, says the VIN once and listens for the answer. Prints one line
of JSON: each call's response (end of speech → first sound back) or null.

    python -m tests.support.phone_on_a_host --bridge 10.0.0.21 --line +4930123456 --calls 3
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from tests.support.phone import RtpPeer, start_sipp_call
from tests.support.service_desk_script import CALLER_SAYS

CALLER = "+4915112345678"
LOUD = 0.02  # RMS (0 to 1) of what comes back: the agent speaking
QUIET = 2.0  # seconds below it that end the greeting


def speech_8k():
    import io
    import wave

    import numpy as np

    from tests.support.scripted_llm import espeak_wav

    with wave.open(io.BytesIO(espeak_wav(CALLER_SAYS, rate=8000))) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)


def loud_since(peer: RtpPeer, since: float) -> float | None:
    """The first moment (monotonic) after ``since`` that a 20 ms packet came back loud."""
    from tests.support.phone import ulaw_decode

    for at, payload in list(peer.received):
        if at > since:
            samples = ulaw_decode(payload).astype(float) / 32768
            if (samples**2).mean() ** 0.5 > LOUD:
                return at
    return None


def one_call(bridge: str, line: str, folder: Path, speech) -> dict:
    address = socket.gethostbyname(socket.gethostname())
    peer = RtpPeer(address=address)
    sipp, port_file = start_sipp_call(
        folder, sip_port=5060, caller=CALLER, dialled=line, rtp_port=peer.port,
        talk_seconds=40, local_ip=address, bridge_ip=bridge,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or sipp.poll() is not None:
                return {"response": None, "error": "not answered"}
            time.sleep(0.1)
        peer.remote = (bridge, int(port_file.read_text().strip()))
        answered = time.monotonic()
        greeted, said = threading.Event(), []

        def talk() -> None:  # silence, the VIN once the greeting is over, silence
            while not greeted.is_set() and sipp.poll() is None:
                peer.silence(0.02)
            peer.play(speech)
            said.append(time.monotonic())
            while sipp.poll() is None and time.monotonic() < said[0] + 25:
                peer.silence(0.2)

        talker = threading.Thread(target=talk, daemon=True)
        talker.start()
        # The greeting: it starts, then stays quiet for QUIET seconds.
        while loud_since(peer, answered) is None and time.monotonic() < answered + 30:
            time.sleep(0.05)
        last = answered
        while time.monotonic() - last < QUIET and time.monotonic() < answered + 40:
            heard = loud_since(peer, last)
            last = heard if heard else last
            time.sleep(0.1)
        greeted.set()
        while not said and talker.is_alive():
            time.sleep(0.05)
        if not said:
            return {"response": None, "error": "the line dropped"}
        while loud_since(peer, said[0]) is None and time.monotonic() < said[0] + 20:
            time.sleep(0.01)
        heard = loud_since(peer, said[0])
        if heard is not None:  # stay on the line until the answer is over
            last = heard
            while time.monotonic() - last < QUIET and time.monotonic() < heard + 20:
                last = loud_since(peer, last) or last
                time.sleep(0.1)
        return {"response": None if heard is None else round(heard - said[0], 3)}
    finally:
        sipp.kill()
        sipp.wait()
        peer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge", required=True, help="livekit-sip's address")
    parser.add_argument("--line", required=True)
    parser.add_argument("--calls", type=int, default=1)
    options = parser.parse_args()
    speech = speech_8k()
    results = []
    for _ in range(options.calls):
        with tempfile.TemporaryDirectory() as folder:
            results.append(one_call(options.bridge, options.line, Path(folder), speech))
        time.sleep(2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
