// The desk: a person sets themselves available, a handoff rings (a sound, the agent's brief,
// Accept or Decline), and on Accept the page joins the caller's room with the microphone.
// The board (presence, the handoff ringing or on the call, the queue, the callback tasks,
// today's calls) comes from the socket (desk/consumers.py) after every change; the actions
// go through the API (desk/api.py), which answers 409 with a sentence when it is too late.
import { Room, RoomEvent, Track } from "livekit-client";
import { csrfToken } from "./lib/csrf.js";

const $ = (id) => document.getElementById(id);
const ui = {
  connection: $("connection"),
  announcer: $("announcer"),
  presence: $("presence"),
  presenceStatus: $("presence-status"),
  offer: $("offer"),
  offerBrief: $("offer-brief"),
  countdown: $("offer-countdown"),
  accept: $("accept-button"),
  decline: $("decline-button"),
  current: $("current"),
  callStatus: $("call-status"),
  currentBrief: $("current-brief"),
  handBack: $("hand-back-button"),
  end: $("end-button"),
  bookLink: $("book-link"),
  queue: $("queue"),
  queueCount: $("queue-count"),
  queueEmpty: $("queue-empty"),
  people: $("desk-people"),
  today: $("today"),
  callbacks: $("callbacks"),
  callbackCount: $("callback-count"),
  audio: $("desk-audio"),
};
const bookUrl = $("desk").dataset.bookUrl;
const PING_MS = 5000; // presence and the call's lease last 30 s without one
const SILENT_MS = 15000;

let socket = null;
let retry = 0;
let heardAt = 0;
let board = null;
let clockSkew = 0; // server time minus this page's
let room = null; // the caller's room, while this person is on the call
let ringing = null; // the id of the handoff ringing here, while it rings
let ringer = null; // the ring sound's timer
let audioContext = null;

function setConnection(state, text) {
  ui.connection.dataset.state = state;
  ui.connection.textContent = text;
}

function announce(text) {
  ui.announcer.textContent = "";
  setTimeout(() => (ui.announcer.textContent = text), 50);
}

function waited(since) {
  const seconds = Math.max(0, Math.round((Date.now() + clockSkew - Date.parse(since)) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

// The brief as the person reads it: who, the vehicle, what they want, what the agent did,
// and their last words.
function briefElement(handoff) {
  const brief = handoff.brief || {};
  const list = document.createElement("dl");
  const add = (term, value) => {
    if (!value || (Array.isArray(value) && !value.length)) return;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (Array.isArray(value)) {
      const ul = document.createElement("ul");
      for (const line of value) {
        const li = document.createElement("li");
        li.textContent = line;
        ul.append(li);
      }
      dd.append(ul);
    } else dd.textContent = value;
    list.append(dt, dd);
  };
  add("Caller", brief.who || handoff.caller);
  add("Vehicle", brief.vehicle || "not identified yet");
  add("Wants", brief.wants || handoff.reason);
  add("The agent has", brief.done);
  add("They said last", (brief.last_words || []).map((w) => `“${w}”`));
  return list;
}

function handoffLine(handoff, text) {
  const li = document.createElement("li");
  li.className = "call-item";
  const who = document.createElement("strong");
  who.textContent = handoff.caller || "A caller on the web page";
  const meta = document.createElement("span");
  meta.className = "call-meta";
  meta.textContent = text;
  li.append(who, " ", meta);
  return li;
}

// The queue alone: redrawn every second too, as its waits tick (the rest only on a change:
// redrawing the callback tasks' buttons under a pointer would swallow the click).
function renderQueue() {
  ui.queueCount.textContent = String(board.summary.queued);
  ui.queueEmpty.hidden = board.queue.length > 0;
  ui.queue.replaceChildren(
    ...board.queue.map((h) =>
      handoffLine(h, `${h.reason || "asked for a person"} · waiting ${waited(h.requested_at)}` +
        (h.offered_to ? ` · ringing at ${h.offered_to}` : "")),
    ),
  );
}

function render() {
  if (!board) return;
  const me = board.me;
  for (const button of ui.presence.querySelectorAll("button")) {
    const on = (button.dataset.presence === "available") === me.available;
    button.setAttribute("aria-pressed", String(on));
  }
  ui.presenceStatus.textContent = me.available
    ? me.busy
      ? "Available: nothing else rings while you have a caller."
      : "Available: the next handoff rings here."
    : "Away: handoffs do not ring at your desk.";

  const current = board.current;
  const rings = current && current.status === "ringing";
  ui.offer.hidden = !rings;
  if (rings && ringing !== current.id) {
    ringing = current.id;
    ui.offerBrief.replaceChildren(briefElement(current));
    ui.accept.disabled = false;
    ui.decline.disabled = false;
    startRinging();
    announce(`A caller for you: ${current.reason || "they asked for a person"}.`);
  }
  if (!rings && ringing !== null) {
    ringing = null;
    stopRinging();
  }
  const onCall = current && current.status === "accepted";
  ui.current.hidden = !onCall && !room;
  if (onCall) {
    ui.currentBrief.replaceChildren(briefElement(current));
    if (bookUrl && current.vehicle_id) {
      ui.bookLink.href = `${bookUrl}?vehicle=${current.vehicle_id}`;
      ui.bookLink.hidden = false;
    } else ui.bookLink.hidden = !bookUrl;
    if (bookUrl && !current.vehicle_id) ui.bookLink.href = bookUrl;
  }

  renderQueue();
  const { available, busy } = board.summary;
  ui.people.textContent =
    `Available: ${available.length ? available.join(", ") : "nobody"}. ` +
    `On a call: ${busy.length ? busy.join(", ") : "nobody"}.`;
  ui.callbackCount.textContent = String(board.summary.callbacks);
  ui.callbacks.replaceChildren(
    ...board.callbacks.map((h) => {
      const li = handoffLine(h, `${h.reason || "asked for a person"} · asked ${new Date(h.requested_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`);
      li.append(briefElement(h));
      // The call's record in the admin has the number whole for staff allowed to see it.
      const record = document.createElement("a");
      record.href = `/admin/callcenter/call/${h.call_id}/change/`;
      record.textContent = "The call's record";
      const done = document.createElement("button");
      done.type = "button";
      done.className = "btn btn-secondary";
      done.textContent = "Called back";
      done.setAttribute("aria-label", `Called back ${h.caller || "the caller"}: the task is done`);
      done.addEventListener("click", async () => {
        done.disabled = true;
        try {
          await post(`/api/handoffs/${h.id}/called-back/`);
        } catch (error) {
          ui.presenceStatus.textContent = error.message;
          done.disabled = false;
        }
      });
      li.append(record, " ", done);
      return li;
    }),
  );
  ui.today.replaceChildren(
    ...board.today.map((h) =>
      handoffLine(h, `${new Date(h.accepted_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} · ${h.status_label}`),
    ),
  );
}

// A soft two-tone ring every two seconds while a handoff rings here (WebAudio: the page's
// first click, on Available, allowed it to sound).
function startRinging() {
  stopRinging();
  const ring = () => {
    if (!audioContext) return;
    for (const [offset, pitch] of [[0, 660], [0.25, 880]]) {
      const tone = audioContext.createOscillator();
      const gain = audioContext.createGain();
      tone.frequency.value = pitch;
      gain.gain.value = 0.08;
      tone.connect(gain).connect(audioContext.destination);
      tone.start(audioContext.currentTime + offset);
      tone.stop(audioContext.currentTime + offset + 0.2);
    }
  };
  ring();
  ringer = setInterval(ring, 2000);
}

function stopRinging() {
  clearInterval(ringer);
  ringer = null;
}

async function post(path) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
  }).catch(() => null);
  const body = response ? await response.json().catch(() => ({})) : {};
  if (!response || !response.ok) {
    throw new Error(body.detail || "The server could not be reached. Try again.");
  }
  return body;
}

// The handoff ringing here, its buttons disabled and its sound stopped while it is answered;
// null when nothing rings.
function answering() {
  const id = ringing;
  if (id === null) return null;
  ui.accept.disabled = true;
  ui.decline.disabled = true;
  stopRinging();
  return id;
}

async function accept() {
  const id = answering();
  if (id === null) return;
  try {
    const answer = await post(`/api/handoffs/${id}/accept/`);
    ui.offer.hidden = true;
    ui.current.hidden = false;
    ui.currentBrief.replaceChildren(briefElement(answer.handoff));
    ui.callStatus.textContent = "Joining the caller…";
    await joinCall(answer);
    ui.callStatus.textContent =
      "You are on the call: you hear the brief, then the agent introduces you and listens.";
  } catch (error) {
    ui.callStatus.textContent = error.message;
    ui.presenceStatus.textContent = error.message;
  }
}

async function joinCall(answer) {
  const joined = new Room();
  joined.on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
    if (track.kind !== Track.Kind.Audio) return;
    const element = track.attach();
    element.dataset.from = participant.identity; // the caller, the agent, or its brief
    ui.audio.append(element);
  });
  joined.on(RoomEvent.Disconnected, () => {
    if (room === joined) leaveCall("The call has ended.");
  });
  await Promise.race([
    joined.connect(answer.server_url, answer.token),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error("Could not reach the voice server.")), 15000),
    ),
  ]);
  room = joined;
  await joined.startAudio();
  await joined.localParticipant.setMicrophoneEnabled(true);
}

function leaveCall(status) {
  const left = room;
  room = null;
  if (left) left.disconnect();
  ui.audio.replaceChildren();
  ui.callStatus.textContent = status;
  render();
}

async function finish(path, status) {
  const current = board && board.current;
  if (!current) return;
  try {
    await post(`/api/handoffs/${current.id}/${path}/`);
    leaveCall(status);
  } catch (error) {
    ui.callStatus.textContent = error.message;
  }
}

// The board is two parts: what every desk page shows alike ("desk": the queue, the callback
// tasks, who is there) and what only this person's does ("mine": their presence, the handoff
// ringing here or on the call, their calls today). Drawn once both have come.
let shared = null;
let mine = null;
function onMessage(message) {
  if (message.kind === "desk" || message.kind === "mine") {
    if (message.kind === "desk") {
      shared = message;
      clockSkew = Date.parse(message.now) - Date.now();
    } else mine = message;
    if (shared && mine) {
      board = { ...shared, ...mine };
      render();
    }
  } else if (message.kind === "error") {
    ui.presenceStatus.textContent = message.error;
  }
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  setConnection(retry ? "reconnecting" : "connecting", retry ? "Reconnecting…" : "Connecting…");
  const current = new WebSocket(`${scheme}://${location.host}/ws/desk/`);
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
    if (socket !== current) return;
    if (event.code === 4403) {
      setConnection("refused", "You may not take handoffs. Log in as a person at the desk.");
      return;
    }
    reconnectLater("Connection lost");
  });
}

function reconnectLater(why) {
  socket = null;
  retry += 1;
  const delay = Math.min(10000, 500 * 2 ** Math.min(retry, 5));
  setConnection("reconnecting", `${why}. Reconnecting in ${Math.round(delay / 1000)} s…`);
  setTimeout(connect, delay);
}

ui.presence.addEventListener("click", (event) => {
  const chosen = event.target.closest("button[data-presence]");
  if (!chosen) return;
  audioContext = audioContext || new AudioContext();
  send({ type: chosen.dataset.presence });
});
ui.accept.addEventListener("click", accept);
ui.decline.addEventListener("click", async () => {
  const id = answering();
  if (id === null) return;
  try {
    await post(`/api/handoffs/${id}/decline/`);
  } catch (error) {
    ui.presenceStatus.textContent = error.message;
  }
});
ui.handBack.addEventListener("click", () =>
  finish("hand-back", "You handed the call back to the AI."),
);
ui.end.addEventListener("click", () => finish("end", "You ended the call."));
setInterval(() => {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  if (Date.now() - heardAt > SILENT_MS) {
    const silent = socket;
    reconnectLater("Connection lost");
    silent.close();
    return;
  }
  send({ type: "ping" });
}, PING_MS);
setInterval(() => {
  if (board) renderQueue(); // the waits tick
  if (ringing !== null && board && board.current && board.current.offer_expires_at) {
    const left = Date.parse(board.current.offer_expires_at) - (Date.now() + clockSkew);
    ui.countdown.textContent = `${Math.max(0, Math.ceil(left / 1000))} s`;
  }
}, 1000);
connect();
