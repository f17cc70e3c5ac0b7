"""Calls over the namespaced cluster of the tests (docs/deploy.md): what a lossy caller link
costs, whether a second worker host adds capacity, and how soon a new worker takes a call.

The product runs as ``tests/support/cluster.py`` deploys it (edge, two web hosts, two media
nodes, workers, data host), the stand-in models answering at once. The callers are LiveKit
participants of ``bench.voice_turn`` (espeak-ng speech at real-time pace, an ear on the agent's
track) in a process on the caller host, which reaches the product through the edge's TLS and
the media nodes only (``bench.cluster_caller``).

- ``--loss 0,1,3,5``: at each loss (each way, iptables' random drop on the caller host; this
  kernel has no netem, so no added delay), ``--calls`` web calls and as many phone calls
  (SIPp and G.711 through livekit-sip on media1, ``tests.support.phone_on_a_host``) one after
  another, each saying a VIN once: the response (end of speech → first sound of the answer),
  and the VIN captured (the call stored exactly one caller turn and the answer was heard).
- ``--capacity 2,4,6``: that many calls at once, with one worker, then with two: response p95.
- the time from starting a worker process to it being registered and to its first call's
  greeting at the caller (the other workers drained).

    .venv/bin/python -m bench.cluster_calls --loss 0,1,3,5 --calls 6 --capacity 2,4,6

All hosts share this machine's two cores: a second worker host adds processes, not CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time

from bench.common import ROOT, percentiles, report
from tests.support.scripted_llm import Reply
from tests.support.service_desk_script import CALLER_SAYS

REPLY = "Thanks, I found your 2003 Honda Accord. How can I help with it?"


def callers(cluster, calls: int, at_once: int, turns: int) -> list[dict]:
    """Run ``calls`` calls (``at_once`` at a time) from the caller host; their figures."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(cluster.folder),
        "SSL_CERT_FILE": str(cluster.ca_file),
        "PYTHONPATH": str(ROOT),
    }
    answer = cluster["caller"].run(
        [sys.executable, "-m", "bench.cluster_caller", "--site", cluster.site_url,
         "--calls", str(calls), "--at-once", str(at_once), "--turns", str(turns),
         "--text", CALLER_SAYS],
        env=environment, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    lines = answer.stdout.strip().splitlines()
    if not (lines and lines[-1].startswith("[")):
        # (The process may abort on its way out, in LiveKit's FFI, after printing its figures.)
        sys.exit(f"the callers' process failed ({answer.returncode}): {answer.stderr[-2000:]}")
    calls = json.loads(lines[-1])
    for call in calls:
        if call.get("error"):
            print("a call failed:", call["error"], file=sys.stderr)
    return calls


def phone_callers(cluster, calls: int) -> list[dict]:
    """``calls`` phone calls one after another from the caller host, through livekit-sip."""
    from tests.support.cluster import PHONE_LINE

    answer = cluster["caller"].run(
        [sys.executable, "-m", "tests.support.phone_on_a_host",
         "--bridge", cluster["media1"].address, "--line", PHONE_LINE, "--calls", str(calls)],
        env={"PATH": os.environ["PATH"], "HOME": str(cluster.folder), "PYTHONPATH": str(ROOT)},
        cwd=ROOT, timeout=900,
    )  # fmt: skip
    return json.loads(answer.stdout.strip().splitlines()[-1])


def last_phone_calls_turns(cluster, calls: int) -> list[int]:
    """Caller segments of the newest ``calls`` phone calls, newest first."""
    script = (
        "import json; from callcenter.models import Call; "
        f"calls = Call.objects.filter(channel='phone').order_by('-started_at')[:{calls}]; "
        "print(json.dumps([c.segments.filter(speaker='customer').count() for c in calls]))"
    )
    answer = cluster.manage("web1", "shell", "-c", script)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def caller_turns(cluster, call_ids: list[str]) -> dict[str, int]:
    """How many caller segments each call stored (read on a web host, as an operator)."""
    script = (
        "import json, sys; from django.db.models import Count; "
        "from callcenter.models import TranscriptSegment as S; "
        "ids = json.loads(sys.stdin.read()); "
        "rows = S.objects.filter(call_id__in=ids, speaker='customer').values('call_id')"
        ".annotate(n=Count('id')); "
        "print(json.dumps({str(r['call_id']): r['n'] for r in rows}))"
    )
    answer = cluster.manage("web1", "shell", "-c", script, input=json.dumps(call_ids))
    return json.loads(answer.stdout.strip().splitlines()[-1])


def set_loss(cluster, percent: float) -> None:
    cluster["caller"].flush_firewall()
    cluster.isolate_caller()
    if percent:
        cluster.lose_packets(percent)


def figures_of(calls: list[dict]) -> dict:
    responses = [r for call in calls for r in call["responses"] if r is not None]
    unanswered = sum(r is None for call in calls for r in call["responses"])
    return {
        "response_s": percentiles(responses),
        "unanswered": unanswered,
        "turns": sum(len(call["responses"]) for call in calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="0,1,3,5")
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--capacity", default="2,4,6")
    parser.add_argument("--turns", type=int, default=2)
    options = parser.parse_args()
    # Django only finds the pinned programs here; the cluster's hosts have their own settings.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from tests.support.cluster import WORKERS_AT_START, cluster_unavailable, running_cluster

    problem = cluster_unavailable()
    if problem:
        sys.exit(f"cannot run the cluster: {problem}")
    results: dict = {"loss": {}, "capacity": {}}
    with running_cluster() as cluster:
        cluster.models.script = lambda _body: Reply(text=REPLY)
        cluster.models.transcripts = _Always(CALLER_SAYS)
        for percent in [float(x) for x in options.loss.split(",") if x]:
            set_loss(cluster, percent)
            calls = callers(cluster, options.calls, 1, 1)
            turns = caller_turns(cluster, [call["call_id"] for call in calls if call["call_id"]])
            captured = sum(
                turns.get(call["call_id"]) == 1 and call["responses"][0] is not None
                for call in calls
            )
            phone = phone_callers(cluster, options.calls)
            phone_turns = last_phone_calls_turns(cluster, len(phone))
            phone_captured = sum(
                turns == 1 and call["response"] is not None
                for turns, call in zip(phone_turns, reversed(phone), strict=True)
            )
            responses = [call["response"] for call in phone if call["response"] is not None]
            results["loss"][str(percent)] = {
                "web": {**figures_of(calls), "vin_captured": f"{captured}/{len(calls)}"},
                "phone": {
                    "response_s": percentiles(responses),
                    "vin_captured": f"{phone_captured}/{len(phone)}",
                    "errors": [call["error"] for call in phone if call.get("error")],
                },
            }
            print(f"loss {percent} %:", json.dumps(results["loss"][str(percent)]), flush=True)
        set_loss(cluster, 0)
        levels = [int(x) for x in options.capacity.split(",") if x]
        for workers in (1, 2):
            if workers == 1:
                cluster.stop_worker("worker2", drain=True)
                time.sleep(3)
            elif not cluster.running("worker2"):
                cluster.start_worker("worker2")
            for level in levels:
                calls = callers(cluster, level, level, options.turns)
                key = f"{workers} worker(s), {level} calls"
                results["capacity"][key] = figures_of(calls)
                print(f"{key}:", json.dumps(results["capacity"][key]), flush=True)
        # A new worker's first call: the others drained, so it must take it.
        for name in WORKERS_AT_START:
            cluster.stop_worker(name, drain=True)
        started = time.monotonic()
        cluster.start_worker("worker3")
        registered = time.monotonic() - started
        first = callers(cluster, 1, 1, 1)[0]
        results["new_worker"] = {
            "started_to_registered_s": round(registered, 2),
            "dialled_to_greeting_s": first["greeting"],
        }
    report("cluster_calls", results)


class _Always(list):
    """A transcript queue that never runs out."""

    def __init__(self, text: str) -> None:
        super().__init__([text])

    def pop(self, index: int = -1) -> str:
        return self[0]


if __name__ == "__main__":
    main()
