// The call page's states and the words it shows for each, in one place.
// Pure data and functions: no LiveKit, no DOM, so the page logic stays easy to follow.

export const STATES = {
  idle: { status: "Press Call to talk to our service desk.", busy: false, inCall: false },
  microphone: { status: "Asking your browser for the microphone…", busy: true, inCall: false },
  starting: { status: "Starting your call…", busy: true, inCall: false },
  connecting: {
    status: ({ connectSeconds }) =>
      `Connecting to the voice server (at most ${connectSeconds} seconds)…`,
    busy: true,
    inCall: false,
  },
  waiting: {
    status: ({ waitSeconds }) =>
      `Connected. Waiting for the assistant to answer (at most ${waitSeconds} seconds)…`,
    busy: true,
    inCall: true,
  },
  inCall: { status: "In call. Speak any time, or type below.", busy: false, inCall: true },
  // The connection dropped (the caller's network, or the voice server holding the call went
  // away): livekit-client reconnects on its own, to another server if need be.
  reconnecting: { status: "Connection lost. Reconnecting…", busy: true, inCall: true },
  // The assistant's server stopped mid-call; another takes the call up, with what was said.
  agentLost: {
    status: ({ resumeSeconds }) =>
      `We were cut off from the assistant. Bringing it back (at most ${resumeSeconds} seconds)…`,
    busy: true,
    inCall: true,
  },
  ended: { status: "The call has ended. Thank you for calling.", busy: false, inCall: false },
  failed: { status: "The call did not start.", busy: false, inCall: false },
};

export const AGENT_ACTIVITY = {
  initializing: "The assistant is getting ready…",
  listening: "The assistant is listening.",
  thinking: "The assistant is thinking…",
  speaking: "The assistant is speaking.",
};

// The words a state shows; some say how long the page waits at most.
export function statusText(name, limits) {
  const { status } = STATES[name];
  return typeof status === "function" ? status(limits) : status;
}

// Turns what went wrong into a sentence for the caller, in their terms: their device is
// blamed only when the browser says it is offline, and whenever our side is at fault the
// service desk's other way in (contact, e.g. "Or call us on …") follows.
export function describeFailure(kind, detail, { contact = "", online = true } = {}) {
  const orCallUs = (sentence) => (contact ? `${sentence} ${contact}` : sentence);
  const offline =
    "Your device seems to be offline. Check your internet connection, then press Try again.";
  switch (kind) {
    case "microphone-denied":
      return (
        "Your browser did not allow the microphone. To talk, allow the microphone for this " +
        "site in the browser's address bar, then press Try again. Or call without it and type."
      );
    case "microphone-missing":
      return "No microphone was found. Connect one and try again, or call without it and type.";
    case "throttled":
      return orCallUs(
        detail || "Too many calls from this connection. Please wait a little and try again.",
      );
    case "unavailable":
      return orCallUs(detail || "Our phone line is busy right now. Try again in a minute.");
    case "start-failed":
      if (!online) return offline;
      return orCallUs("Our service desk is not answering right now. Try again in a minute.");
    case "unreachable":
      if (!online) return offline;
      return orCallUs("Our voice line is not answering right now. Try again in a minute.");
    case "no-agent":
      return orCallUs("Our assistant did not pick up. Try again in a minute.");
    case "connection-lost":
      if (!online) return offline;
      return orCallUs("We lost the connection to your call. Press Try again to call us again.");
    case "agent-lost":
      return orCallUs("We lost the assistant and could not bring it back. Please call again.");
    default:
      return orCallUs(detail || "Something went wrong on our side. Try again in a minute.");
  }
}

// Classifies the answer of POST /api/calls/ into a failure kind, or null when it worked.
export function classifyStartResponse(status) {
  if (status === 201) return null;
  if (status === 429) return "throttled";
  if (status === 503) return "unavailable";
  return "start-failed";
}
