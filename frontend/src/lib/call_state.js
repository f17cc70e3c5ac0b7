// The call page's states and the words it shows for each, in one place.
// Pure data and functions: no LiveKit, no DOM, so the page logic stays easy to follow.

export const STATES = {
  idle: { status: "Press Call to talk to our service desk.", busy: false, inCall: false },
  microphone: { status: "Asking your browser for the microphone…", busy: true, inCall: false },
  starting: { status: "Starting your call…", busy: true, inCall: false },
  connecting: { status: "Connecting to the voice server…", busy: true, inCall: false },
  waiting: { status: "Connected. Waiting for the assistant to join…", busy: true, inCall: true },
  inCall: { status: "In call. Speak any time, or type below.", busy: false, inCall: true },
  reconnecting: { status: "Connection lost. Reconnecting…", busy: true, inCall: true },
  ended: { status: "The call has ended. Thank you for calling.", busy: false, inCall: false },
  failed: { status: "The call did not start.", busy: false, inCall: false },
};

export const AGENT_ACTIVITY = {
  initializing: "The assistant is getting ready…",
  listening: "The assistant is listening.",
  thinking: "The assistant is thinking…",
  speaking: "The assistant is speaking.",
};

// Turns what went wrong into a sentence for the caller.
export function describeFailure(kind, detail) {
  switch (kind) {
    case "microphone-denied":
      return (
        "Your browser did not allow the microphone. To talk, allow the microphone for this " +
        "site in the browser's address bar, then press Try again. Or call without it and type."
      );
    case "microphone-missing":
      return "No microphone was found. Connect one and try again, or call without it and type.";
    case "throttled":
      return detail || "Too many calls from this connection. Please wait a little and try again.";
    case "unavailable":
      return detail || "Voice calls are not available right now. Please try again later.";
    case "start-failed":
      return "We could not start your call (the server did not answer). Please try again.";
    case "unreachable":
      return (
        "We could not reach the voice server. Check your internet connection and try again."
      );
    default:
      return detail || "Something went wrong. Please try again.";
  }
}

// Classifies the answer of POST /api/calls/ into a failure kind, or null when it worked.
export function classifyStartResponse(status) {
  if (status === 201) return null;
  if (status === 429) return "throttled";
  if (status === 503) return "unavailable";
  return "start-failed";
}
