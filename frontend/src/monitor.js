// The supervisors' live monitor: calls in progress (filtered, sorted, counted, and drawn only
// as far as they are on screen), the open call's transcript growing in place, handoff alerts,
// automatic reconnect with resume, and listen-in through livekit-client.
//
// The socket sends every call's changes, but the words of the open call only: the page opens
// the call a supervisor selects and closes the one they leave (monitoring/consumers.py).
import {
  Virtualizer,
  elementScroll,
  observeElementOffset,
  observeElementRect,
} from "@tanstack/virtual-core";
import { Room, RoomEvent, Track } from "livekit-client";
import { lineLabel, view } from "./lib/call_list.js";
import { csrfToken } from "./lib/csrf.js";
import { describeEvent } from "./lib/monitor_format.js";

const $ = (id) => document.getElementById(id);
const ui = {
  connection: $("connection"),
  announcer: $("announcer"),
  list: $("call-list"),
  scroller: $("call-scroller"),
  stateFilters: $("state-filters"),
  lineFilter: $("line-filter"),
  sort: $("call-sort"),
  finished: $("finished-list"),
  finishedStatus: $("finished-status"),
  count: $("call-count"),
  none: $("no-calls"),
  transcript: $("transcript"),
  details: $("call-details"),
  listen: $("listen-button"),
  listenStatus: $("listen-status"),
  audio: $("listen-audio"),
  controls: $("controls"),
  controlStatus: $("control-status"),
  takeOver: $("take-over-button"),
  handBack: $("hand-back-button"),
  bargeIn: $("barge-in-button"),
  transfer: $("transfer-button"),
  whisperForm: $("whisper-form"),
  whisperInput: $("whisper-input"),
  desk: $("desk-status"),
};
const me = document.body.dataset.user || "";
const voiceOn = $("monitor").dataset.voice === "on";

const calls = new Map(); // id -> call state as the server sent it
let selected = null; // the call open on this page: its words come, no other's
let items = new Map(); // sequence -> item of the open call
let lastSeen = 0; // the open call's highest sequence seen, for resume
const filters = { state: "all", line: "", sort: "attention" };
let shown = []; // the calls the list shows, in its order
let socket = null;
let retry = 0;
// The page pings every PING_MS and the server answers each; a socket that has said nothing
// for SILENT_MS is one whose web host is gone (pulled from the network, nothing told us),
// and the page stops waiting on it and reconnects, through the edge, to another.
const PING_MS = 10000;
const SILENT_MS = 25000;
let heardAt = 0;
let listening = null;


function setConnection(state, text) {
  ui.connection.dataset.state = state;
  ui.connection.textContent = text;
}

function duration(call) {
  const from = Date.parse(call.answered_at || call.started_at);
  const to = call.ended_at ? Date.parse(call.ended_at) : Date.now();
  const seconds = Math.max(0, Math.round((to - from) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function isLive(call) {
  return call.status === "waiting" || call.status === "active";
}

// The list draws only the rows on screen (and a few more), whatever the number of live calls;
// every row is as tall as ROW_PX (app.css: .call-list.virtual).
const ROW_PX = 96;
const listOptions = {
  count: 0,
  getScrollElement: () => ui.scroller,
  estimateSize: () => ROW_PX,
  overscan: 6,
  scrollToFn: elementScroll,
  observeElementRect,
  observeElementOffset,
  onChange: () => drawRows(),
};
const virtualizer = new Virtualizer(listOptions);
virtualizer._didMount();
virtualizer._willUpdate();

// Updates arrive in bursts: the list is redrawn once per frame at most.
let listPending = false;
function renderList() {
  if (listPending) return;
  listPending = true;
  requestAnimationFrame(() => {
    listPending = false;
    drawList();
  });
}

function drawList() {
  const live = [];
  for (const call of calls.values()) if (isLive(call)) live.push(call);
  const { rows, counts, lines } = view(live, filters);
  shown = rows;
  ui.count.textContent = String(live.length);
  ui.none.hidden = rows.length > 0;
  ui.none.textContent = live.length ? "No calls match these filters." : "No calls right now.";
  for (const button of ui.stateFilters.querySelectorAll("button")) {
    const count = button.querySelector(".count");
    const text = String(counts[button.dataset.state]);
    if (count.textContent !== text) count.textContent = text;
  }
  drawLineOptions(lines, live.length);
  virtualizer.setOptions({ ...listOptions, count: rows.length });
  virtualizer._willUpdate();
  drawRows();
}

function drawLineOptions(lines, total) {
  const wanted = [["", `All lines (${total})`]];
  [...lines.keys()].sort().forEach((line) => wanted.push([line, `${lineLabel(line)} (${lines.get(line)})`]));
  if (filters.line && !lines.has(filters.line)) wanted.push([filters.line, `${lineLabel(filters.line)} (0)`]);
  const options = ui.lineFilter.options;
  const same = options.length === wanted.length &&
    wanted.every(([value, label], i) => options[i].value === value && options[i].text === label);
  if (same) return;
  ui.lineFilter.replaceChildren(...wanted.map(([value, label]) => new Option(label, value)));
  ui.lineFilter.value = filters.line;
}

function drawRows() {
  // A keyboard user's place in the list survives the redraw.
  const focused = ui.list.contains(document.activeElement) ? document.activeElement : null;
  const focusedCall = focused?.closest("li")?.querySelector(".call-item")?.dataset.callId;
  const takeFocused = Boolean(focused?.classList.contains("take-over-now"));
  ui.list.style.height = `${virtualizer.getTotalSize()}px`;
  ui.list.replaceChildren(
    ...virtualizer.getVirtualItems()
      .filter((row) => row.index < shown.length)
      .map((row) => rowElement(shown[row.index], row)),
  );
  const row = focusedCall && ui.list.querySelector(`.call-item[data-call-id="${focusedCall}"]`);
  if (row) (takeFocused ? row.parentElement.querySelector(".take-over-now") || row : row).focus({ preventScroll: true });
}

// Where the call's recording stands with the caller, in a word or two (recordings.consent).
const RECORDING_SHOWN = {
  announced: "recorded",
  granted: "recorded, agreed",
  asked: "asking to record",
  declined: "recording declined",
  withdrawn: "recording stopped",
};

function recordingShown(call) {
  return RECORDING_SHOWN[call.recording_consent] || null;
}

function rowElement(call, row) {
  const li = document.createElement("li");
  li.style.transform = `translateY(${row.start}px)`;
  li.setAttribute("aria-setsize", String(shown.length));
  li.setAttribute("aria-posinset", String(row.index + 1));
  const button = document.createElement("button");
  button.type = "button";
  button.className = "call-item";
  button.dataset.callId = call.id;
  button.setAttribute("aria-pressed", String(call.id === selected));
  if (call.needs_human) button.classList.add("needs-human");
  const vehicle = call.vehicle ? call.vehicle.description : "vehicle not identified yet";
  const title = document.createElement("strong");
  title.textContent = call.caller || call.room;
  const meta = document.createElement("span");
  meta.className = "call-meta";
  meta.textContent = [call.status_label, recordingShown(call), vehicle, ""].filter((part) => part !== null).join(" · ");
  const time = document.createElement("time");
  time.className = "duration";
  time.textContent = duration(call);
  meta.append(time);
  button.append(title, meta);
  if (call.needs_human || call.controller) {
    const flag = document.createElement("span");
    flag.className = "flag";
    flag.textContent = call.controller ? `taken over by ${call.controller}` : "needs a person";
    button.append(flag);
  }
  button.addEventListener("click", () => select(call.id, { byUser: true }));
  li.append(button);
  if (call.needs_human && !call.controller) {
    // The handoff alert answers itself: one click takes the call over.
    const take = document.createElement("button");
    take.type = "button";
    take.className = "take-over-now";
    take.textContent = "Take over";
    take.setAttribute("aria-label", `Take over the call from ${call.caller || call.room}`);
    take.addEventListener("click", () => {
      select(call.id, { byUser: true });
      control("take_over");
    });
    li.append(take);
  }
  return li;
}

// A finished call as a supervisor recognises it: when it ended, the vehicle (or the kind of
// call), and how it went; never an internal id.
function finishedLine(call) {
  const ended = call.ended_at ? new Date(call.ended_at) : null;
  const at = ended ? ended.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  const who = call.vehicle
    ? call.vehicle.description
    : call.channel === "phone" ? `Phone ${call.caller}` : "Web call";
  const how = call.outcome_label || call.status_label;
  return `${at ? `${at} · ` : ""}${who} · ${how}, ${duration(call)}`;
}

// Calls already in "Just finished": a repeated or late message must not list one twice.
const finishedShown = new Set();

function renderFinished(call) {
  if (finishedShown.has(call.id)) return;
  finishedShown.add(call.id);
  const li = document.createElement("li");
  const link = document.createElement("a");
  link.href = `/history/${call.id}/`;
  link.textContent = finishedLine(call);
  li.append(link);
  if (call.channel === "phone" && (call.status === "failed" || call.outcome === "abandoned")) {
    li.append(" ", callBackButton(call));
  }
  ui.finished.prepend(li);
  // As many as the snapshot sends (RECENTLY_FINISHED in monitoring/consumers.py).
  while (ui.finished.children.length > 10) ui.finished.lastChild.remove();
}

// A failed or abandoned phone call can be called back (the agent dials the customer).
function callBackButton(call) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button call-back";
  button.textContent = "Call back";
  button.setAttribute("aria-label", `Call ${call.caller || "the customer"} back`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    const response = await fetch(`/api/calls/${call.id}/callback/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).catch(() => null);
    const body = response ? await response.json().catch(() => ({})) : {};
    ui.finishedStatus.textContent =
      response && response.ok
        ? "Calling the customer back now: the new call appears above."
        : body.detail || "The callback did not start. Try again.";
    button.disabled = false;
  });
  return button;
}

function itemElement(item) {
  const li = document.createElement("li");
  li.dataset.sequence = String(item.sequence);
  if (item.kind === "segment") {
    li.className = `turn turn-${item.speaker}`;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = item.speaker_label; // the server's words (the model's choices)
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = item.text + (item.interrupted ? " (interrupted)" : "");
    li.append(who, text);
  } else {
    const { text, important } = describeEvent(item);
    li.className = `note note-${item.type}${important ? " important" : ""}`;
    li.textContent = text;
  }
  return li;
}

function renderControls(call) {
  ui.controls.hidden = !call || !isLive(call);
  if (!call) return;
  const mine = call.controller && call.controller === me;
  ui.takeOver.hidden = Boolean(mine);
  ui.handBack.hidden = !mine;
  ui.bargeIn.hidden = !voiceOn;
  ui.transfer.hidden = call.channel !== "phone";
  ui.controlStatus.textContent = call.controller
    ? mine
      ? "You control this call; the agent is silent until you hand it back."
      : `${call.controller} controls this call.`
    : call.status === "waiting"
      ? `Waiting for an agent to answer (${duration(call)}).`
      : "The agent is handling this call.";
}

function control(type, extra = {}) {
  if (socket && socket.readyState === WebSocket.OPEN && selected) {
    socket.send(JSON.stringify({ type, call_id: selected, ...extra }));
    ui.controlStatus.textContent = "Sending to the agent…";
  }
}

function renderTranscript() {
  const call = calls.get(selected);
  renderControls(call);
  ui.listen.hidden = !call || !isLive(call) || !voiceOn;
  if (!call) {
    ui.details.textContent = "Select a call to follow its transcript.";
    ui.transcript.replaceChildren();
    return;
  }
  const vehicle = call.vehicle ? `${call.vehicle.description} (${call.vehicle.vin})` : "no vehicle yet";
  ui.details.textContent = `${call.caller || call.room} · ${call.status_label} · ${vehicle}`;
  const sorted = [...items.values()].sort((a, b) => a.sequence - b.sequence);
  ui.transcript.replaceChildren(...sorted.map(itemElement));
}

function appendToTranscript(item) {
  // Insert in sequence order without redrawing what is there.
  const element = itemElement(item);
  const after = [...ui.transcript.children].find((li) => Number(li.dataset.sequence) > item.sequence);
  ui.transcript.insertBefore(element, after || null);
  element.scrollIntoView({ block: "nearest" });
}

// Where the list and the transcript stack (a phone), choosing a call shows its transcript.
const stacked = window.matchMedia("(max-width: 800px)");

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

// Opens the call on the page: its transcript so far comes, then its words live; the call left
// is closed. (While the socket is down, the reconnect opens the selected call.)
function select(callId, { byUser = false } = {}) {
  if (callId !== selected) {
    if (listening) stopListening();
    if (selected) send({ type: "close", call_id: selected });
    selected = callId;
    items = new Map();
    lastSeen = 0;
    if (selected) send({ type: "open", call_id: selected, last: 0 });
  }
  renderList();
  renderTranscript();
  if (byUser && stacked.matches) {
    document.querySelector(".transcript-panel").scrollIntoView({ block: "start" });
  }
}

function announce(text) {
  ui.announcer.textContent = "";
  setTimeout(() => (ui.announcer.textContent = text), 50);
}

// Whether the message is older than what the page shows: call messages from different
// processes (the worker, a webhook, a supervisor's action) may arrive out of order.
function isStale(call) {
  const shown = calls.get(call.id);
  return Boolean(shown) && shown.version > call.version;
}

function applyCall(call, { live = false } = {}) {
  if (isStale(call)) return;
  const before = calls.get(call.id);
  call.startedMs = Date.parse(call.started_at);
  calls.set(call.id, call);
  // Ended: whether the page saw it live or not (a call that failed before this page
  // learnt of it, e.g. across a reconnect, still belongs in "Just finished").
  if (!isLive(call) && (!before || isLive(before))) {
    renderFinished(call);
    if (selected === call.id) stopListening();
  }
  // The alert is a change of the call, so it reaches every supervisor.
  if (live && call.needs_human && !call.controller && !(before && before.needs_human)) {
    announce(`A caller needs a person: ${call.caller || call.room}.`);
  }
}

function applyItem(item) {
  if (item.call_id !== selected || items.has(item.sequence)) return;
  items.set(item.sequence, item);
  lastSeen = Math.max(lastSeen, item.sequence);
  if (item.kind === "event" && item.type === "handoff_requested") {
    const call = calls.get(item.call_id);
    announce(`Handoff requested on ${call ? call.caller || call.room : "a call"}: ${item.payload.reason || ""}`);
  }
  appendToTranscript(item);
}

// Every live call, as the snapshot lists them: a call this page showed live that is not
// among them ended while the page was away (it is in "Just finished" if recent).
function applySnapshotCalls(listed) {
  const ids = new Set(listed.map((call) => call.id));
  for (const [id, call] of calls) if (isLive(call) && !ids.has(id)) calls.delete(id);
  listed.forEach((call) => applyCall(call));
}

function onMessage(message) {
  switch (message.kind) {
    case "snapshot":
    case "resumed":
      if (message.finished) {
        // From the database, newest first: the list survives a reload.
        ui.finished.replaceChildren();
        finishedShown.clear();
        [...message.finished].reverse().forEach(renderFinished);
      }
      if (message.desk) renderDesk(message.desk);
      applySnapshotCalls(message.calls);
      message.items.forEach(applyItem);
      if (!selected || !calls.has(selected)) {
        const { rows } = view([...calls.values()].filter(isLive), filters);
        select(rows.length ? rows[0].id : null);
      } else {
        renderList();
        renderTranscript();
      }
      break;
    case "desk":
      renderDesk(message.desk);
      break;
    case "opened":
      if (message.call.id !== selected) break; // left again before it came
      applyCall(message.call);
      message.items.forEach(applyItem);
      renderList();
      renderTranscript();
      break;
    case "call":
      applyCall(message.call, { live: true });
      renderList();
      if (message.call.id === selected) renderTranscript();
      break;
    case "segment":
    case "event":
      applyItem(message);
      break;
    case "error":
      if (message.action) ui.controlStatus.textContent = message.error;
      else console.warn("monitor:", message.error);
      break;
    case "control":
      // The job serving the call carried the action out (the server waits for its word).
      if (message.action === "whisper") ui.controlStatus.textContent = "Whisper sent: the agent has it.";
      else if (message.action === "transfer") {
        ui.controlStatus.textContent = "Transferring the caller: the result shows in the transcript.";
      }
      else renderControls(calls.get(selected));
      break;
    default:
      break;
  }
}

// The desk at a glance: callers waiting for a person, the longest wait (ticking), who is
// available and who is on a call.
let desk = null;
function renderDesk(summary) {
  desk = summary || desk;
  if (!desk) return;
  const names = (list) => (list.length ? list.join(", ") : "nobody");
  const wait = desk.oldest_requested_at
    ? ` (longest ${duration({ started_at: desk.oldest_requested_at })})`
    : "";
  ui.desk.textContent =
    `Desk: ${desk.queued} waiting for a person${wait} · available: ${names(desk.available)}` +
    ` · on a call: ${names(desk.busy)} · to call back: ${desk.callbacks}`;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  // The open call again, from what the page has of it.
  const resume = selected ? `${selected}:${lastSeen}` : "";
  const url = `${scheme}://${location.host}/ws/monitor/${resume ? `?resume=${resume}` : ""}`;
  setConnection(retry ? "reconnecting" : "connecting", retry ? "Reconnecting…" : "Connecting…");
  const current = new WebSocket(url);
  socket = current;
  current.addEventListener("open", () => {
    retry = 0;
    heardAt = Date.now();
    setConnection("live", "Live");
  });
  current.addEventListener("message", (event) => {
    heardAt = Date.now();
    onMessage(JSON.parse(event.data));
  });
  current.addEventListener("close", (event) => {
    if (socket !== current) return; // one given up on as silent: its successor is under way
    if (event.code === 4403) {
      setConnection("refused", "You are not allowed to watch calls. Log in as a supervisor.");
      return;
    }
    reconnectLater(event.code === 1013 ? "Live updates are degraded" : "Connection lost");
  });
}

function reconnectLater(why) {
  socket = null;
  retry += 1;
  const delay = Math.min(10000, 500 * 2 ** Math.min(retry, 5));
  setConnection("reconnecting", `${why}. Reconnecting in ${Math.round(delay / 1000)} s…`);
  setTimeout(connect, delay);
}

// A supervisor's token for the selected call from the API (listen, barge-in), or null after
// saying why not in ``status``.
async function supervisorToken(callId, path, status) {
  const response = await fetch(`/api/calls/${callId}/${path}/`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    // The server said no (ended call, permission, CSRF): its sentence, not a network story.
    status.textContent = body.detail || "The server refused.";
    return null;
  }
  return body;
}

// Joins the call's room with ``token`` and plays what the others say.
async function joinRoom(token) {
  const room = new Room();
  room.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind === Track.Kind.Audio) ui.audio.append(track.attach());
  });
  room.on(RoomEvent.Disconnected, () => stopListening());
  await Promise.race([
    room.connect(token.server_url, token.token),
    new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 15000)),
  ]);
  await room.startAudio();
  return room;
}

async function startListening() {
  ui.listenStatus.textContent = "Joining…";
  const token = await supervisorToken(selected, "listen", ui.listenStatus);
  if (!token) return;
  try {
    listening = await joinRoom(token);
    ui.listen.textContent = "Stop listening";
    ui.listen.setAttribute("aria-pressed", "true");
    ui.listenStatus.textContent = "Listening (the caller cannot hear you).";
  } catch {
    ui.listenStatus.textContent = "Could not reach the voice server. Try again in a moment.";
  }
}

async function bargeIn() {
  const token = await supervisorToken(selected, "barge-in", ui.controlStatus);
  if (!token) return;
  try {
    if (listening) stopListening();
    const room = await joinRoom(token);
    await room.localParticipant.setMicrophoneEnabled(true);
    listening = room;
    ui.controlStatus.textContent = "You are on the call; the caller can hear you.";
  } catch {
    ui.controlStatus.textContent = "Could not reach the voice server. Try again in a moment.";
  }
}

function stopListening() {
  const room = listening;
  listening = null;
  if (room) room.disconnect();
  ui.audio.replaceChildren();
  ui.listen.textContent = "Listen in";
  ui.listen.setAttribute("aria-pressed", "false");
  ui.listenStatus.textContent = "";
}

ui.listen.addEventListener("click", () => (listening ? stopListening() : startListening()));
ui.takeOver.addEventListener("click", () => control("take_over"));
ui.handBack.addEventListener("click", () => control("hand_back"));
ui.transfer.addEventListener("click", () => control("transfer"));
ui.whisperForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.whisperInput.value.trim();
  if (!text) return;
  control("whisper", { text });
  ui.whisperInput.value = "";
});
ui.bargeIn.addEventListener("click", bargeIn);
ui.stateFilters.addEventListener("click", (event) => {
  const chosen = event.target.closest("button[data-state]");
  if (!chosen) return;
  filters.state = chosen.dataset.state;
  for (const button of ui.stateFilters.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button === chosen));
  }
  virtualizer.scrollToOffset(0);
  renderList();
});
ui.lineFilter.addEventListener("change", () => {
  filters.line = ui.lineFilter.value;
  virtualizer.scrollToOffset(0);
  renderList();
});
ui.sort.addEventListener("change", () => {
  filters.sort = ui.sort.value;
  renderList();
});
// Keeps the lease on calls this supervisor controls (and the connection alive).
setInterval(() => {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  if (Date.now() - heardAt > SILENT_MS) {
    const silent = socket;
    reconnectLater("Connection lost");
    silent.close();
    return;
  }
  socket.send('{"type": "ping"}');
}, PING_MS);
setInterval(() => {
  document.querySelectorAll(".call-item").forEach((button) => {
    const call = calls.get(button.dataset.callId);
    const time = button.querySelector(".duration");
    if (call && time) time.textContent = duration(call);
  });
  if (desk && desk.oldest_requested_at) renderDesk();
  const current = calls.get(selected);
  if (current && ui.controlStatus.textContent.startsWith("Waiting for an agent")) {
    renderControls(current); // the wait ticks, unless a message (an error, an ack) stands
  }
}, 1000);
connect();
