"""How long a caller waits to hear the agent again when a host dies under their call: the
worker host serving it (its processes SIGKILLed) or the media node carrying it (its cable
pulled, its servers killed), over ``--trials`` calls each: p50 and p95.

The product runs as ``tests/support/cluster.py`` deploys it; each trial is one web call by a
LiveKit participant on the caller host (``bench.host_loss_caller``), which hears the greeting,
then the fault, then measures from the fault to the first sound of the agent's "Sorry, we were
cut off…". The host is restored between trials.

    .venv/bin/python -m bench.host_loss --trials 10
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time

from bench.common import ROOT, percentiles, report


def placement(cluster, call_id: str, seconds: float = 30) -> tuple[str, str]:
    """The call's worker host and media node address, once its job recorded them."""
    script = (
        "import json, sys; from callcenter.models import Call; "
        "c = Call.objects.get(pk=sys.stdin.read().strip()); "
        "print(json.dumps([c.worker_host, c.media_node]))"
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = cluster.manage("web1", "shell", "-c", script, input=call_id, check=False)
        lines = answer.stdout.strip().splitlines()
        if answer.returncode == 0 and lines:
            worker, node = json.loads(lines[-1])
            if worker and node:
                return worker, node
        time.sleep(1)
    sys.exit(f"call {call_id}: no placement recorded: {answer.stdout[-500:]}{answer.stderr[-500:]}")


def one_trial(cluster, fault: str) -> float | None:
    """One call, one fault (``worker`` or ``media``): seconds to hear the agent again."""
    from tests.support.cluster import MEDIA

    program = cluster["caller"].command(
        [sys.executable, "-m", "bench.host_loss_caller", "--site", cluster.site_url]
    )
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(cluster.folder),
        "SSL_CERT_FILE": str(cluster.ca_file),
        "PYTHONPATH": str(ROOT),
    }
    caller = subprocess.Popen(
        program, cwd=ROOT, env=environment, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = json.loads(caller.stdout.readline() or "{}")
        if not ready.get("greeted"):
            print("a call was not greeted:", ready, file=sys.stderr)
            return None
        worker, node_address = placement(cluster, ready["call_id"])
        if fault == "worker":
            cluster.stop_worker(worker, drain=False)
        else:
            node = next(name for name in MEDIA if cluster[name].address == node_address)
            cluster.lose_media_host(node)
        caller.stdin.write(f"{time.monotonic()}\n")
        caller.stdin.flush()
        back = json.loads(caller.stdout.readline() or "{}").get("back_s")
    finally:
        caller.kill()
        caller.wait()
    if fault == "worker":
        cluster.start_worker(worker)
    else:
        cluster.restore_media_host(node)
        time.sleep(6)  # its stats fresh again: LiveKit places rooms on it
    return back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--faults", default="worker,media")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from tests.support.cluster import cluster_unavailable, running_cluster
    from tests.support.scripted_llm import Reply

    problem = cluster_unavailable()
    if problem:
        sys.exit(f"cannot run the cluster: {problem}")
    results: dict = {}
    with running_cluster() as cluster:
        cluster.models.script = lambda _body: Reply(text="How can I help?")
        for fault in [f for f in options.faults.split(",") if f]:
            backs = [one_trial(cluster, fault) for _ in range(options.trials)]
            heard = [b for b in backs if b is not None]
            results[fault] = {
                "back_s": percentiles(heard),
                "not_back": len(backs) - len(heard),
                "trials": backs,
            }
            print(f"{fault}:", json.dumps(results[fault]), flush=True)
    report("host_loss", results)


if __name__ == "__main__":
    main()
