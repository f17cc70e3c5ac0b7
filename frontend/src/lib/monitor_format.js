// How call events read on the monitor, e.g. "Looked up 1HGCM82633A004352: 2003 Honda Accord".

const TOOL_VERBS = {
  lookup_vehicle: "Looked up",
  create_vehicle: "Registered",
  get_vehicle_details: "Read the vehicle record",
  request_human: "Asked for a person",
};

function firstSentence(text) {
  const clean = String(text || "").replace(/\s+/g, " ").trim();
  const end = clean.indexOf(". ");
  return end > 0 ? clean.slice(0, end + 1) : clean;
}

export function describeEvent(event) {
  const payload = event.payload || {};
  switch (event.type) {
    case "tool_call": {
      const verb = TOOL_VERBS[payload.name] || `Used ${payload.name}`;
      const vin = payload.arguments && payload.arguments.vin ? ` ${payload.arguments.vin}` : "";
      const outcome = firstSentence(payload.output);
      return { text: `${verb}${vin}: ${outcome}`, important: Boolean(payload.is_error) };
    }
    case "handoff_requested":
      return { text: `Handoff requested: ${payload.reason || "no reason given"}`, important: true };
    case "participant_joined":
      return { text: `${payload.identity || "Someone"} joined`, important: false };
    case "participant_left":
      return { text: `${payload.identity || "Someone"} left`, important: false };
    case "error":
      return { text: `Error: ${payload.message || "unknown"}`, important: true };
    default:
      return { text: event.type, important: false };
  }
}
