"""The caller of ``bench.host_loss``, run on the cluster's caller host: starts a call through
the site's API over https, hears the greeting, says so (one JSON line with the call's id),
then waits for the fault's moment on standard input (``time.monotonic()`` of the machine,
which every network namespace shares) and prints how long after it the agent was heard again.

    python -m bench.host_loss_caller --site https://callcenter.test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

HEAR_AGAIN_TIMEOUT = 120.0


async def run(site: str) -> None:
    from livekit import rtc

    from bench.voice_turn import QUIET_AFTER_ANSWER, SAMPLE_RATE, Caller, start_call

    started = await asyncio.to_thread(start_call, site)
    room = rtc.Room()
    source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=50)
    caller = Caller(source)
    ears: list[asyncio.Task] = []
    room.on(
        "track_subscribed",
        lambda track, *_: (
            ears.append(asyncio.create_task(caller.ear(track)))
            if track.kind == rtc.TrackKind.KIND_AUDIO
            else None
        ),
    )
    await room.connect(started["server_url"], started["token"])
    track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    microphone = asyncio.create_task(caller.microphone())
    try:
        deadline = time.monotonic() + 60
        while not caller.last_loud and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await caller.quiet_for(QUIET_AFTER_ANSWER)
        print(json.dumps({"call_id": started["call_id"], "greeted": bool(caller.last_loud)}))
        sys.stdout.flush()
        fault = float(await asyncio.to_thread(sys.stdin.readline))
        caller.listening_since = fault
        caller.first_loud_after = None
        deadline = fault + HEAR_AGAIN_TIMEOUT
        while caller.first_loud_after is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        heard = caller.first_loud_after
        print(json.dumps({"back_s": None if heard is None else round(heard - fault, 2)}))
        sys.stdout.flush()
    finally:
        microphone.cancel()
        for ear in ears:
            ear.cancel()
        await room.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    asyncio.run(run(parser.parse_args().site))


if __name__ == "__main__":
    main()
