"""What a call's job would otherwise import for itself, imported ahead in the forkserver.

livekit-agents forks each job process from a forkserver that imported ``PRELOADED_MODULES``
(``runagent``) and froze them for the garbage collector: what is imported there is shared by
every job copy-on-write, what a job imports itself is its own. These modules are imported only
once a call runs (a client's first request, the first live message), so they are imported here.
``tests/test_worker_processes.py`` runs a text-mode call after this preload and fails when it
imports anything more (what only the voice path imports was read from a voice benchmark run);
the README's Benchmarks table has what they cost per job.
"""

# ruff: noqa: F401 (imported to be loaded in the forkserver, not used here)
# The OpenAI client's resources, stream reader and JSON parser, loaded on its first request; its
# HTTP transport, which httpx2 imports when the client makes its first connection pool
# (httpcore2 with h11, anyio's asyncio backend and truststore's SSL context); livekit-agents'
# tool runner, end-of-call session report, room resources and the transcript's speaking rate
# (numpy.fft); and the channel layer the call's writer publishes to (channels-redis: redis,
# msgpack), as configured.
import anyio._backends._asyncio
import h11
import httpcore2
import jiter
import livekit.agents.llm.async_toolset
import livekit.agents.voice.report
import livekit.rtc.resources
import numpy.fft
import openai.lib.streaming.chat
import openai.resources.audio.audio
import openai.resources.chat.chat
import openai.resources.chat.completions
import openai.resources.models
import truststore
from django.conf import settings
from django.utils.module_loading import import_string

import_string(settings.CHANNEL_LAYERS["default"]["BACKEND"])
