"""What a call's metrics hold, and the one percentile definition of the product.

The worker stores per-turn latency samples in ``Call.metrics`` (milliseconds) with their p50
and p95 when the call ends; the call page shows those, the dashboard the percentiles over many
calls, and the benchmarks theirs: all by ``percentile``.

Keys in ``Call.metrics``:
    eou_delay_ms, transcription_delay_ms   user turns: end of speech -> end of turn / transcript
    llm_ttft_ms, tts_ttfb_ms               agent turns: LLM first token, TTS first audio byte
    turns                                  committed messages (user + agent)
    llm_prompt_tokens, llm_completion_tokens, tts_characters, stt_audio_seconds   usage totals
    <key>_p50 / <key>_p95                  percentiles, written when the call ends
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The latency samples the call page and the dashboard show: key in Call.metrics, and label.
SHOWN_LATENCY = {
    "eou_delay_ms": "End of utterance",
    "llm_ttft_ms": "LLM first token",
    "tts_ttfb_ms": "TTS first byte",
}


def percentile(values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile: a value that was measured, never an interpolation (None for
    no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]
