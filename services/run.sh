#!/usr/bin/env bash
# `make run`: the whole product on this machine, under honcho (one Ctrl-C stops all).
#
#   web      daphne on WEB_HOST:WEB_PORT (always)
#   livekit  the pinned livekit-server on 127.0.0.1:7880, unless LIVEKIT_URL names another
#            server (e.g. a LiveKit Cloud project); it gets this checkout's key pair
#   agent    `runagent dev`, when an LLM is configured (OPENAI_API_KEY or OPENAI_BASE_URL)
#   sweeper  `sweep_stale_calls --every 60`: ends calls that never connected or went silent
#   sip      with TELEPHONY=on (and REDIS_URL): livekit-sip on 127.0.0.1:${SIP_PORT:-5060}, the
#            local livekit-server then sharing state through that Redis, as SIP requires;
#            and the campaigns' dialler (`run_campaigns`), which calls out through the lines
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export WEB_HOST="${WEB_HOST:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"
export SECRET_KEY="${SECRET_KEY:-$(cat var/secret_key)}"

processes=(web sweeper)
if [ -z "${LIVEKIT_URL:-}" ]; then
  if make --no-print-directory livekit-server; then
    export LIVEKIT_URL=ws://127.0.0.1:7880
    export LIVEKIT_API_KEY="${LIVEKIT_API_KEY:-callcenter-dev}"
    export LIVEKIT_API_SECRET="${LIVEKIT_API_SECRET:-$(cat var/livekit_api_secret)}"
    processes+=(livekit)
  else
    echo "Voice calls are off: livekit-server could not be built (see above); set LIVEKIT_URL to use another server"
  fi
fi
if [ "${TELEPHONY:-off}" = on ]; then
  if [ -z "${REDIS_URL:-}" ]; then
    echo "TELEPHONY=on needs REDIS_URL (livekit-server and livekit-sip meet in Redis); phone calls are off"
  elif make --no-print-directory livekit-sip; then
    # In the environment, not on a command line: the URL may hold Redis's password.
    export LIVEKIT_REDIS_URL="$REDIS_URL" SIP_PORT="${SIP_PORT:-5060}"
    processes+=(sip dialler)
  else
    echo "Phone calls are off: livekit-sip could not be built (see above)"
  fi
fi
no_worker=""
if [ -n "${OPENAI_API_KEY:-}${OPENAI_BASE_URL:-}" ] && [ -n "${LIVEKIT_URL:-}" ]; then
  processes+=(agent)
elif [ -n "${LIVEKIT_URL:-}" ]; then
  no_worker="No agent answers calls: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server, see the README) and run make run again."
fi

$PY manage.py migrate --no-input --verbosity 0
echo "Database up to date"
$PY manage.py collectstatic --no-input --verbosity 0
$PY manage.py seed_demo
echo "Serving on http://$WEB_HOST:$WEB_PORT/ (admin at /admin/); starting: ${processes[*]}"
# Said last, where it is seen: the lines above scroll away.
[ -z "$no_worker" ] || echo "$no_worker"
exec .venv/bin/honcho start "${processes[@]}"
