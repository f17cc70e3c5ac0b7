// The customer's call page: start a call, talk to the agent, see its captions, type to it.
import {
  ConnectionState,
  DisconnectReason,
  ParticipantKind,
  Room,
  RoomEvent,
  Track,
} from "livekit-client";
import {
  AGENT_ACTIVITY,
  STATES,
  classifyStartResponse,
  describeFailure,
  statusText,
} from "./lib/call_state.js";
import { csrfToken } from "./lib/csrf.js";

const CONNECT_SECONDS = 15;
const $ = (id) => document.getElementById(id);

const ui = {
  page: $("call-app"),
  callButton: $("call-button"),
  typeOnlyButton: $("type-only-button"),
  retryButton: $("retry-button"),
  hangupButton: $("hangup-button"),
  muteButton: $("mute-button"),
  status: $("call-status"),
  activity: $("agent-activity"),
  error: $("call-error"),
  errorText: $("call-error-text"),
  level: $("mic-level"),
  captions: $("captions"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  audio: $("remote-audio"),
};

let room = null;
let meter = null;
let withMicrophone = true;
let hungUp = false;
let agentWait = null;
// How long the page waits for the voice server and then for the assistant (settings).
const limits = {
  connectSeconds: CONNECT_SECONDS,
  waitSeconds: Number(ui.page.dataset.waitSeconds) || 20,
  resumeSeconds: Number(ui.page.dataset.resumeSeconds) || 20,
};


function setState(name, failureText = "") {
  const state = STATES[name];
  ui.page.dataset.state = name;
  ui.status.textContent = statusText(name, limits);
  // After a failure the error box offers "Try again"; one way to retry is enough.
  ui.callButton.hidden = state.inCall || state.busy || name === "failed";
  ui.callButton.textContent = name === "ended" ? "Call again" : "Call";
  ui.callButton.disabled = state.busy;
  ui.hangupButton.hidden = !(state.inCall || state.busy) || name === "microphone";
  ui.muteButton.hidden = !state.inCall || !withMicrophone;
  ui.chatForm.hidden = !state.inCall;
  ui.error.hidden = name !== "failed";
  ui.errorText.textContent = failureText;
  if (!state.inCall) ui.activity.textContent = "";
}

// retryAfter (seconds, from the server's Retry-After): "Try again" stays hidden until then.
function fail(kind, detail, retryAfter = 0) {
  const text = describeFailure(kind, detail, {
    contact: ui.page.dataset.contact,
    online: navigator.onLine,
  });
  setState("failed", text);
  ui.typeOnlyButton.hidden = !kind.startsWith("microphone");
  if (retryAfter > 0) {
    ui.retryButton.hidden = true;
    setTimeout(() => {
      ui.retryButton.hidden = false;
    }, retryAfter * 1000);
    return;
  }
  ui.retryButton.hidden = false;
  ui.retryButton.focus();
}

function addCaption(key, who, text, { final = true } = {}) {
  let line = key ? ui.captions.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
  if (!line) {
    line = document.createElement("p");
    line.className = `caption caption-${who === "You" ? "you" : "agent"}`;
    if (key) line.dataset.key = key;
    const speaker = document.createElement("span");
    speaker.className = "caption-speaker";
    speaker.textContent = `${who}: `;
    line.append(speaker, document.createElement("span"));
    ui.captions.append(line);
  }
  line.lastChild.textContent = text;
  line.classList.toggle("caption-partial", !final);
  ui.captions.scrollTop = ui.captions.scrollHeight;
}

async function askForMicrophone() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((track) => track.stop());
    return null;
  } catch (error) {
    if (error && error.name === "NotFoundError") return "microphone-missing";
    return "microphone-denied";
  }
}

async function requestCall() {
  let response;
  try {
    response = await fetch("/api/calls/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: "{}",
    });
  } catch {
    return { failure: "start-failed" };
  }
  const body = await response.json().catch(() => ({}));
  const failure = classifyStartResponse(response.status);
  const retryAfter = Number(response.headers.get("Retry-After")) || 0;
  return failure ? { failure, detail: body.detail, retryAfter } : { call: body };
}

function startLevelMeter(track) {
  stopLevelMeter();
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const tick = () => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const value of samples) peak = Math.max(peak, Math.abs(value - 128));
    ui.level.value = Math.min(1, peak / 64);
    meter.frame = requestAnimationFrame(tick);
  };
  meter = { context, frame: requestAnimationFrame(tick) };
}

function stopLevelMeter() {
  if (!meter) return;
  cancelAnimationFrame(meter.frame);
  meter.context.close();
  meter = null;
  ui.level.value = 0;
}

// A person from the desk who joins answers the call too: their token carries this role
// (callcenter/livekit_tokens.py, barge_in_token).
const PERSON_ROLE = "supervisor";

function answersTheCall(participant) {
  return (
    participant.kind === ParticipantKind.AGENT ||
    participant.attributes["callcenter.role"] === PERSON_ROLE
  );
}

function agentJoined(participant) {
  if (!answersTheCall(participant)) return;
  clearTimeout(agentWait);
  setState("inCall");
  if (participant.kind === ParticipantKind.AGENT) showAgentActivity(participant);
  else ui.activity.textContent = "A person from our service desk is on the call.";
}

// The agent left without ending the call: its server stopped, and the web app has asked for
// another to take the call up (callcenter/agent_dispatch.py). Wait for it, a bounded time.
function agentLost(current) {
  if (ui.page.dataset.state === "failed") return;
  setState("agentLost");
  clearTimeout(agentWait);
  agentWait = setTimeout(() => {
    fail("agent-lost");
    current.disconnect();
  }, limits.resumeSeconds * 1000);
}

function showAgentActivity(participant) {
  const state = participant.attributes["lk.agent.state"];
  ui.activity.textContent = AGENT_ACTIVITY[state] || "";
}

// Why a room ends when the call is over: the caller hung up, or the call was ended for them
// (the agent or a supervisor). Any other reason is a connection the page could not get back.
const CALL_CLOSED = new Set([
  DisconnectReason.CLIENT_INITIATED,
  DisconnectReason.ROOM_DELETED,
  DisconnectReason.ROOM_CLOSED,
  DisconnectReason.PARTICIPANT_REMOVED,
]);

function wireRoom(current) {
  current
    .on(RoomEvent.ParticipantConnected, agentJoined)
    .on(RoomEvent.ParticipantAttributesChanged, (_changed, participant) => {
      if (participant.kind === ParticipantKind.AGENT) showAgentActivity(participant);
    })
    .on(RoomEvent.ParticipantDisconnected, (participant) => {
      if (participant.kind !== ParticipantKind.AGENT) return;
      // An agent another one took the call over from may leave after it: not a loss.
      const stillAnswered = [...current.remoteParticipants.values()].some(
        (other) => other !== participant && answersTheCall(other),
      );
      if (!stillAnswered) agentLost(current);
    })
    .on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
      if (track.kind !== Track.Kind.Audio) return;
      const element = track.attach();
      element.dataset.from = participant.identity; // the agent, a supervisor, a desk person
      ui.audio.append(element);
    })
    .on(RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()))
    .on(RoomEvent.LocalTrackPublished, (publication) => {
      if (publication.source === Track.Source.Microphone) {
        startLevelMeter(publication.track.mediaStreamTrack);
      }
    })
    .on(RoomEvent.ConnectionStateChanged, (state) => {
      const reconnecting = [ConnectionState.Reconnecting, ConnectionState.SignalReconnecting];
      if (reconnecting.includes(state)) setState("reconnecting");
      if (state === ConnectionState.Connected && ui.page.dataset.state === "reconnecting") {
        const agentHere = [...current.remoteParticipants.values()].some(answersTheCall);
        setState(agentHere ? "inCall" : "waiting");
      }
    })
    .on(RoomEvent.Disconnected, (reason) => {
      clearTimeout(agentWait);
      stopLevelMeter();
      ui.audio.replaceChildren();
      if (room === current) room = null;
      if (ui.page.dataset.state === "failed") return;
      // The voice server that held the call went away and the page could not reach the call
      // again through another: one click calls again.
      if (!hungUp && !CALL_CLOSED.has(reason)) return fail("connection-lost");
      setState("ended");
      ui.callButton.focus();
    });

  current.registerTextStreamHandler("lk.transcription", async (reader, participant) => {
    const mine = participant.identity === current.localParticipant.identity;
    const key = reader.info.attributes?.["lk.segment_id"] || reader.info.id;
    let text = "";
    for await (const chunk of reader) {
      text += chunk;
      addCaption(key, mine ? "You" : "Assistant", text, { final: false });
    }
    addCaption(key, mine ? "You" : "Assistant", text);
  });
}

async function connect(call) {
  const current = new Room({ adaptiveStream: true, dynacast: true });
  room = current;
  wireRoom(current);
  setState("connecting");
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error("timeout")), CONNECT_SECONDS * 1000),
  );
  await Promise.race([current.connect(call.server_url, call.token), timeout]);
  await current.startAudio();
  setState("waiting");
  agentWait = setTimeout(() => {
    // Nobody answered: say so, and leave the room (the server then ends the call).
    fail("no-agent");
    current.disconnect();
  }, limits.waitSeconds * 1000);
  current.remoteParticipants.forEach(agentJoined);
  if (withMicrophone) await current.localParticipant.setMicrophoneEnabled(true);
}

async function startCall() {
  hungUp = false;
  ui.captions.replaceChildren();
  if (withMicrophone) {
    setState("microphone");
    const problem = await askForMicrophone();
    if (problem) return fail(problem);
  }
  setState("starting");
  const { call, failure, detail, retryAfter } = await requestCall();
  if (failure) return fail(failure, detail, retryAfter);
  try {
    await connect(call);
  } catch {
    const current = room;
    room = null;
    if (current) await current.disconnect().catch(() => {});
    if (!hungUp) fail("unreachable");
  }
}

ui.callButton.addEventListener("click", () => {
  withMicrophone = true;
  startCall();
});
ui.retryButton.addEventListener("click", () => startCall());
ui.typeOnlyButton.addEventListener("click", () => {
  withMicrophone = false;
  startCall();
});
ui.hangupButton.addEventListener("click", async () => {
  hungUp = true;
  if (room) await room.disconnect();
  else setState("ended");
});
ui.muteButton.addEventListener("click", async () => {
  if (!room) return;
  const muted = ui.muteButton.getAttribute("aria-pressed") === "true";
  await room.localParticipant.setMicrophoneEnabled(muted);
  ui.muteButton.setAttribute("aria-pressed", String(!muted));
  ui.muteButton.textContent = muted ? "Mute" : "Unmute";
});
ui.chatForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !room) return;
  ui.chatInput.value = "";
  await room.localParticipant.sendText(text, { topic: "lk.chat" });
  addCaption(null, "You", `${text} (typed)`);
});

setState("idle");
ui.callButton.disabled = false;
