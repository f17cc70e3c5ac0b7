// Which live calls the monitor's list shows, in which order, and how many each filter holds.
// Pure functions over the calls' states as the server sent them: the page calls ``view`` once
// per frame at most, whatever the number of calls and updates.

// The list's filters by what is happening on the call (a call is in exactly one but "all").
export const STATES = {
  all: () => true,
  waiting: (call) => call.status === "waiting",
  with_agent: (call) => call.status === "active" && !call.controller && !call.needs_human,
  needs_person: (call) => call.needs_human && !call.controller,
  taken_over: (call) => Boolean(call.controller),
};

// Where a call comes from: the number a phone caller dialled, or the web page; the calls the
// desk placed (a campaign's, callbacks) apart from the customers' own, whatever their line.
export function lineOf(call) {
  if (call.origin === "campaign" || call.origin === "callback") return call.origin;
  return call.channel === "phone" ? call.dialled_number || "phone" : "web";
}

export function lineLabel(line) {
  const named = {
    web: "Web calls",
    phone: "Phone (number unknown)",
    campaign: "Campaign calls",
    callback: "Callbacks",
  };
  return named[line] || line;
}

// Callers waiting for someone (an answer, or a person they asked for) before the others.
const waitingForSomeone = (call) => call.status === "waiting" || STATES.needs_person(call);

export const SORTS = {
  // Asked for a person and nobody took them yet, first; then the oldest.
  attention: (a, b) =>
    Number(!STATES.needs_person(a)) - Number(!STATES.needs_person(b)) || a.startedMs - b.startedMs,
  longest_waiting: (a, b) =>
    Number(!waitingForSomeone(a)) - Number(!waitingForSomeone(b)) || a.startedMs - b.startedMs,
  newest: (a, b) => b.startedMs - a.startedMs,
};

// The rows for the chosen filters, with the counts each filter would show: the states' counts
// within the chosen line, the lines' counts within all live calls.
export function view(live, { state = "all", line = "", sort = "attention" } = {}) {
  const lines = new Map();
  const counts = Object.fromEntries(Object.keys(STATES).map((name) => [name, 0]));
  const rows = [];
  const keep = STATES[state] || STATES.all;
  for (const call of live) {
    const itsLine = lineOf(call);
    lines.set(itsLine, (lines.get(itsLine) || 0) + 1);
    if (line && itsLine !== line) continue;
    for (const name in STATES) if (STATES[name](call)) counts[name] += 1;
    if (keep(call)) rows.push(call);
  }
  rows.sort(SORTS[sort] || SORTS.attention);
  return { rows, counts, lines };
}
