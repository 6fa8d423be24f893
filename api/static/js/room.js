/* The room page (`/rooms/{id}`): listen, raise a hand, speak, moderate.
 *
 * State. `page.room` is the room as the API shows it (RoomView); it is replaced by any
 * newer one (a higher or equal `version`): the room texts of the listen WebSocket, the
 * answers of our own commands and joins, and a poll of `GET /v1/rooms/{id}` while no
 * WebSocket brings them (before listening, on HLS, while reconnecting). Every change is
 * compared with the previous room (`changes`) for what to announce and what it means for
 * this person (promoted, moved to the audience, muted, the room's end); then the page is
 * drawn again from `page` (`render`), keeping keyboard focus on the control in use.
 *
 * Flows.
 * - Listen: `POST …/join`, then the answer's path: the audience through RoomListener
 *   (WebSocket or HLS), people on stage over WHEP with a text-only WebSocket (hearing.js).
 * - A listener raises a hand; when a moderator promotes them, the page offers the
 *   microphone: joining again gives a speaker token and `publish.whip`, then the
 *   microphone is published (webrtc.js) and the page listens over WHEP.
 * - Leaving the stage by someone else's hand: the microphone stops at once, and a new join
 *   tells whether the person was moved to the audience or removed (403); either is said.
 * - Hosts and co-hosts: the hand queue (in order) with approve and remove, and on each
 *   person on stage mute/unmute, move to the audience, make co-host (host), remove;
 *   chapters and the room's end (host). A refusal shows the API's sentence in #alert.
 * - Recording (room-recording.js): the host's "Record this room" setting before the end, a
 *   "being recorded" note while live, and a link to the replay page once there is one.
 * - Captions (captions.js): while listening, the live captions the listen connection
 *   brings, with a toggle and the captions' health ("unavailable", "catching up").
 */

import { api, roomPath } from "./api.js";
import { Captions } from "./captions.js";
import { currentUser, getToken, startSignIn, takeFragmentToken } from "./auth.js";
import { WhepHearing, WsHearing } from "./hearing.js";
import { ModerationQueue } from "./room-moderation.js";
import { RecordingSection } from "./room-recording.js";
import { $, act, announce, confirming, h, plural, renderAccount, showError, whenText } from "./ui.js";
import { Microphone } from "./webrtc.js";

const POLL_MS = 3000;
const SAFETY_POLL_MS = 15000;
const ROLE_NAMES = { host: "Host", cohost: "Co-host", speaker: "Speaker" };

takeFragmentToken();

const params = new URLSearchParams(location.search);
const match = location.pathname.match(/^\/rooms\/([^/]+)\/?$/);
const roomId = match ? decodeURIComponent(match[1]) : params.get("room");

const page = {
  roomId,
  me: currentUser(),
  room: null,
  answer: null,
  hearing: null,
  mic: null,
  talking: new Set(),
  ended: false,
  removed: false,
  missing: false,
  invited: false,
  steppingDown: false,
  micAttempts: 0,
  lastPoll: 0,
};

// --- roles ----------------------------------------------------------------------------

function roleOf(room, userId) {
  if (!room || !userId) return null;
  if (room.host_id === userId) return "host";
  if (room.cohost_ids.includes(userId)) return "cohost";
  if (room.speaker_ids.includes(userId)) return "speaker";
  return "listener";
}

const onStage = (role) => role === "host" || role === "cohost" || role === "speaker";
const moderates = (role) => role === "host" || role === "cohost";
const myRole = () => roleOf(page.room, page.me && page.me.id);
const handRaised = (room, userId) => !!room && room.hands.some((hand) => hand.user_id === userId);

/** Host, co-hosts, then speakers: [[id, role], …]. */
function stageOf(room) {
  return [
    [room.host_id, "host"],
    ...room.cohost_ids.map((id) => [id, "cohost"]),
    ...room.speaker_ids.map((id) => [id, "speaker"]),
  ];
}

const isLive = () => !!page.room && page.room.status === "live" && !page.ended;

const recording = new RecordingSection(roomId, (room) => applyRoom(room));
const moderation = new ModerationQueue(roomId, () => poll());
const captions = new Captions($("captions-section"));
recording.onFound = () => render();

// --- the room's state ---------------------------------------------------------------------

function applyRoom(next) {
  if (!next || next.room_id !== roomId) return;
  const state = { ...next };
  delete state.type;
  const prev = page.room;
  if (prev && state.version < prev.version) return;
  page.room = state;
  page.missing = false;
  if (prev) changes(prev, state);
  if (state.status === "ended") roomEnded();
  render();
}

/** What changed between two states of the room: say it, and act on what concerns me. */
function changes(prev, next) {
  const me = page.me && page.me.id;
  const said = [];
  const before = new Map(stageOf(prev));
  const after = new Map(stageOf(next));
  for (const [id, role] of after) {
    if (id === me) continue;
    if (!before.has(id)) {
      said.push(handRaised(prev, id)
        ? `${id}'s hand was approved: ${id} is now on stage.`
        : `${id} is now on stage.`);
    } else if (before.get(id) !== role) {
      said.push(role === "cohost" ? `${id} is now a co-host.` : `${id} is now a ${role}.`);
    }
  }
  for (const id of before.keys()) {
    if (id !== me && !after.has(id)) said.push(`${id} left the stage.`);
  }
  for (const id of next.muted_ids) {
    if (!prev.muted_ids.includes(id)) said.push(id === me ? "A moderator muted you." : `${id} was muted.`);
  }
  for (const id of prev.muted_ids) {
    if (!next.muted_ids.includes(id) && after.has(id)) {
      said.push(id === me ? "A moderator unmuted you." : `${id} was unmuted.`);
    }
  }
  if (moderates(roleOf(next, me))) {
    for (const hand of next.hands) {
      if (!handRaised(prev, hand.user_id)) said.push(`${hand.user_id} raised a hand.`);
    }
  }
  const was = roleOf(prev, me);
  const now = roleOf(next, me);
  if (me && !onStage(was) && onStage(now)) {
    page.invited = !page.mic;
    said.push(handRaised(prev, me)
      ? "Your hand was approved: you are invited to speak. Turn on your microphone when you are ready."
      : "You were invited to speak. Turn on your microphone when you are ready.");
  } else if (me && was !== now && onStage(now)) {
    said.push(now === "cohost" ? "You are now a co-host." : `You are now a ${now}.`);
  }
  for (const id of page.talking) if (!after.has(id)) page.talking.delete(id);
  if (said.length) announce(said.join(" "));
  if (me && onStage(was) && !onStage(now) && next.status !== "ended") leftStage();
}

/** I left the stage (a moderator's hand, or my own): the microphone stops now; say why. */
async function leftStage() {
  const own = page.steppingDown;
  page.steppingDown = false;
  page.invited = false;
  stopMic({ notify: false });
  let answer;
  try {
    answer = await join();
  } catch (e) {
    if (e.status === 403) removed(e.message);
    else if (e.status === 409) roomEnded();
    return;
  }
  const why = own ? "You left the stage; you are in the audience now."
    : "A moderator moved you to the audience. Raise your hand to ask to speak again.";
  setBanner(own ? "" : why);
  announce(why);
  if (page.hearing && page.hearing.kind !== "websocket") await startHearing(answer);
  render();
}

function removed(reason) {
  if (page.removed) return;
  page.removed = true;
  stopHearing({ notify: false });
  stopMic({ notify: false });
  const text = reason && /removed/i.test(reason) ? reason : "You were removed from this room.";
  setBanner(text);
  announce(text);
  render();
}

function roomEnded() {
  if (page.ended) return;
  page.ended = true;
  if (page.room) page.room.status = "ended";
  stopHearing({ notify: false });
  stopMic({ notify: false });
  page.invited = false;
  setBanner("This room has ended. Thanks for listening.");
  announce("The room has ended.");
  render();
}

function setBanner(text) {
  $("room-banner").textContent = text;
  $("room-banner").hidden = !text;
}

async function join() {
  const answer = await api("POST", roomPath(roomId, "/join"));
  page.answer = answer;
  applyRoom(answer.room);
  return answer;
}

async function poll() {
  if (page.ended || page.removed) return;
  page.lastPoll = Date.now();
  try {
    applyRoom(await api("GET", roomPath(roomId), undefined, { auth: false }));
  } catch (e) {
    if (e.status === 404 || e.status === 422) {
      page.missing = true;
      $("room-title").textContent = "Room not found";
      setBanner("There is no room at this address. Find one on the home page.");
    }
  }
}

/** Poll while no WebSocket brings the room's changes; now and then even when one does. */
function pollIfDue() {
  const live = page.hearing && page.hearing.live;
  if (Date.now() - page.lastPoll >= (live ? SAFETY_POLL_MS : POLL_MS)) poll();
}

// --- listening ----------------------------------------------------------------------------

function onText(message) {
  if (message.type === "room") {
    applyRoom(message);
  } else if (message.type === "activity" && message.user_id) {
    if (message.talking) page.talking.add(message.user_id);
    else page.talking.delete(message.user_id);
    showTalking(message.user_id);
  } else {
    captions.take(message);
  }
}

function hearingChanged({ reconnected = false } = {}) {
  if (reconnected) {
    // a new connection tells who is talking right now: forget what the old one said
    const was = [...page.talking];
    page.talking.clear();
    was.forEach(showTalking);
  }
  renderListening();
}

function hearingEnded(status, reason) {
  if (status === "ended") {
    roomEnded();
  } else {
    // refused: a new join was answered 403 (removed) or 404
    join().catch((e) => {
      if (e.status === 403) removed(e.message);
      else if (e.status === 409) roomEnded();
      else setBanner(reason || e.message);
    });
    page.hearing = null;
    render();
  }
}

async function startHearing(answer) {
  stopHearing();
  const Kind = onStage(answer.role) ? WhepHearing : WsHearing;
  const hearing = new Kind(answer, {
    rejoin: join,
    onText,
    onEnd: hearingEnded,
    onChange: hearingChanged,
  });
  page.hearing = hearing;
  render();
  try {
    await hearing.start();
  } catch (e) {
    if (page.hearing === hearing) {
      stopHearing({ notify: false });
      showError(e.message);
    }
  }
  render();
}

function stopHearing({ notify = true } = {}) {
  const hearing = page.hearing;
  page.hearing = null;
  if (hearing) hearing.stop({ notify });
  captions.clear();
  const was = [...page.talking];
  page.talking.clear();
  was.forEach(showTalking);
}

async function listen() {
  if (!page.me) {
    startSignIn().catch((e) => showError(e.message));
    return;
  }
  const answer = await act($("listen-btn"), join);
  if (answer && !page.ended && !page.removed) {
    await startHearing(answer);
    $("stop-btn").focus();
  }
}

function leave() {
  stopHearing();
  if (getToken()) {
    fetch(roomPath(roomId, "/leave"), {
      method: "POST", keepalive: true, headers: { authorization: `Bearer ${getToken()}` },
    }).catch(() => {});
  }
  render();
  $("listen-btn").focus();
}

// --- speaking -----------------------------------------------------------------------------

async function micOn() {
  const answer = await join();
  if (!answer.publish) throw new Error("You are not on stage, so you cannot speak yet.");
  const mic = new Microphone({ onLost: () => micLost(mic) });
  await mic.start(answer.publish.whip, answer.token);
  if (page.ended || page.removed || !onStage(myRole())) {
    mic.stop();
    return;
  }
  stopMic();
  page.mic = mic;
  page.invited = false;
  page.micAttempts = 0;
  announce("Your microphone is on: everyone in the room hears you.");
  render();
  // people on stage hear the room over WebRTC, without their own voice
  if (!page.hearing || page.hearing.kind !== "whep") await startHearing(answer);
}

/** The publishing connection dropped (not by us): join again; still on stage, publish again. */
async function micLost(mic) {
  if (page.mic !== mic) return;
  page.mic = null;
  render();
  if (page.ended || page.removed) return;
  let answer;
  try {
    answer = await join(); // a demotion or removal shows in its room state (changes → leftStage)
  } catch (e) {
    if (e.status === 403) removed(e.message);
    else if (e.status === 409) roomEnded();
    return;
  }
  if (onStage(answer.role) && !page.mic && page.micAttempts < 3) {
    page.micAttempts += 1;
    announce("Your microphone's connection dropped; reconnecting it.");
    await act(null, micOn);
  }
}

function stopMic({ notify = true } = {}) {
  const mic = page.mic;
  page.mic = null;
  if (mic) mic.stop({ notify });
}

function toggleMute() {
  if (!page.mic) return;
  page.mic.setMuted(!page.mic.muted);
  announce(page.mic.muted ? "Your microphone is muted." : "Your microphone is on again.");
  render();
}

// --- moderating ---------------------------------------------------------------------------

async function moderate(button, method, path, said) {
  const room = await act(button, () => api(method, roomPath(roomId, path)));
  if (room) {
    applyRoom(room);
    if (said) announce(said);
  }
}

const userPath = (kind, userId) => `/${kind}/${encodeURIComponent(userId)}`;

function stageControls(userId, role) {
  const viewer = myRole();
  const me = page.me && page.me.id;
  if (!moderates(viewer) || userId === me || role === "host" || !isLive()) return [];
  const controls = [];
  const mayTouch = viewer === "host" || role !== "cohost";
  if (mayTouch) {
    const muted = page.room.muted_ids.includes(userId);
    controls.push(h("button", {
      type: "button", class: "small", dataset: { focusKey: "mute" },
      "aria-label": `${muted ? "Unmute" : "Mute"}: ${userId}`,
      onclick: (e) => moderate(e.currentTarget, muted ? "DELETE" : "PUT", userPath("mutes", userId),
        `${userId} is ${muted ? "unmuted" : "muted"}.`),
    }, muted ? "Unmute" : "Mute"));
  }
  if (role === "speaker") {
    controls.push(h("button", {
      type: "button", class: "small", dataset: { focusKey: "audience" },
      "aria-label": `Move to audience: ${userId}`,
      onclick: (e) => moderate(e.currentTarget, "DELETE", userPath("speakers", userId),
        `${userId} is back in the audience.`),
    }, "Move to audience"));
    if (viewer === "host") {
      controls.push(h("button", {
        type: "button", class: "small", dataset: { focusKey: "cohost" },
        "aria-label": `Make co-host: ${userId}`,
        onclick: (e) => moderate(e.currentTarget, "PUT", userPath("cohosts", userId),
          `${userId} is now a co-host.`),
      }, "Make co-host"));
    }
  } else if (role === "cohost" && viewer === "host") {
    controls.push(h("button", {
      type: "button", class: "small", dataset: { focusKey: "audience" },
      "aria-label": `Move to audience: ${userId}`,
      onclick: (e) => moderate(e.currentTarget, "DELETE", userPath("cohosts", userId),
        `${userId} is back in the audience.`),
    }, "Move to audience"));
  }
  if (mayTouch) controls.push(removeButton(userId));
  return controls;
}

function removeButton(userId) {
  const button = h("button", {
    type: "button", class: "small danger", dataset: { focusKey: "remove", who: userId },
    "aria-label": `Remove: ${userId}`,
  }, "Remove");
  confirming(button, "Confirm removal", async () => {
    const room = await api("PUT", roomPath(roomId, userPath("removals", userId)));
    applyRoom(room);
    announce(`${userId} was removed from the room.`);
  });
  return button;
}

// --- drawing ------------------------------------------------------------------------------

/**
 * Make `list` show `items` ([{key, signature, build}]) in order: an item whose signature
 * did not change is kept as is; one that is rebuilt gets keyboard focus back on the
 * control with the same `data-focus-key`.
 */
function keyed(list, items) {
  const old = new Map([...list.children].map((li) => [li.dataset.key, li]));
  const nodes = items.map(({ key, signature, build }) => {
    const current = old.get(key);
    if (current && current.dataset.signature === signature) return current;
    const fresh = build();
    fresh.dataset.key = key;
    fresh.dataset.signature = signature;
    if (current && current.contains(document.activeElement)) {
      const focusKey = document.activeElement.dataset.focusKey;
      queueMicrotask(() => {
        const target = focusKey && fresh.querySelector(`[data-focus-key="${focusKey}"]`);
        (target || list.closest("section").querySelector("h2")).focus();
      });
    }
    return fresh;
  });
  const keep = new Set(nodes);
  for (const li of [...list.children]) if (!keep.has(li)) li.remove();
  nodes.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
}

function showTalking(userId) {
  const li = [...$("stage").children].find((item) => item.dataset.key === userId);
  if (!li) return;
  const talking = page.talking.has(userId);
  li.querySelector(".dot").classList.toggle("talking", talking);
  li.querySelector(".talking-text").textContent = talking ? ", speaking" : "";
}

function renderStage() {
  const room = page.room;
  const me = page.me && page.me.id;
  const viewer = myRole();
  const items = stageOf(room).map(([userId, role]) => {
    const muted = room.muted_ids.includes(userId);
    const selfMuted = userId === me && !!page.mic && page.mic.muted;
    const signature = JSON.stringify([role, muted, selfMuted, viewer, isLive(), userId === me]);
    return {
      key: userId,
      signature,
      build: () => {
        const talking = page.talking.has(userId);
        return h("li", {},
          h("span", { class: "who" },
            h("span", { class: `dot${talking ? " talking" : ""}`, "aria-hidden": "true" }),
            h("span", { class: "name" }, userId === me ? `${userId} (you)` : userId),
            h("span", { class: "role" }, ROLE_NAMES[role]),
            h("span", { class: "visually-hidden talking-text" }, talking ? ", speaking" : "")),
          muted ? h("span", { class: "mark muted" }, "Muted") : null,
          selfMuted ? h("span", { class: "mark mic-off" }, "Mic off") : null,
          h("span", { class: "mod" }, stageControls(userId, role)));
      },
    };
  });
  keyed($("stage"), items);
}

function renderHands() {
  const room = page.room;
  const items = room.hands.map((hand, i) => ({
    key: hand.user_id,
    signature: JSON.stringify([i, isLive()]),
    build: () => {
      const approve = h("button", {
        type: "button", class: "small primary", dataset: { focusKey: "approve" },
        "aria-label": `Invite to speak: ${hand.user_id}`,
        onclick: (e) => moderate(e.currentTarget, "PUT", userPath("speakers", hand.user_id),
          `${hand.user_id}'s hand is approved: they are invited to speak.`),
      }, "Invite to speak");
      return h("li", {},
        h("span", { class: "who" },
          h("span", { class: "role" }, `${i + 1}.`),
          h("span", { class: "name" }, hand.user_id)),
        h("span", { class: "mod" }, isLive() ? [approve, removeButton(hand.user_id)] : []));
    },
  }));
  keyed($("hands"), items);
  $("hands-empty").hidden = room.hands.length > 0;
}

function renderChapters() {
  const room = page.room;
  const list = $("chapters");
  const text = (c) => {
    const s = Math.max(0, Math.round(c.offset_seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} — ${c.title}`;
  };
  const items = room.chapters.map((c, i) => ({
    key: String(i), signature: text(c), build: () => h("li", {}, text(c)),
  }));
  keyed(list, items);
}

function renderListening() {
  const hearing = page.hearing;
  $("listen-status").textContent = hearing ? hearing.status : "";
}

function render() {
  const room = page.room;
  if (!room) return;
  const me = page.me && page.me.id;
  const role = myRole();
  const live = isLive();
  const ended = page.ended || room.status === "ended";
  const gone = ended || page.removed;
  document.title = `${room.title} — Stoa`;
  $("room-title").textContent = room.title;
  const status = $("room-status");
  status.textContent = ended ? "Ended" : room.status === "live" ? "Live" : "Scheduled";
  status.className = `badge ${ended ? "ended" : room.status}`;
  $("room-count").textContent = room.status === "live" && !ended ? plural(room.listener_count, "listener") : "";
  $("room-host").textContent = `Hosted by ${room.host_id}`;
  $("room-when").textContent = room.status === "scheduled"
    ? room.scheduled_for ? `Starts ${whenText(room.scheduled_for)}` : "Starts when the host opens it"
    : "";
  const topics = $("room-topics");
  topics.hidden = room.topics.length === 0;
  topics.replaceChildren(...room.topics.map((t) => h("li", {}, t)));

  const listening = !!page.hearing;
  $("listen-btn").hidden = listening || !live || page.removed;
  $("listen-btn").textContent = page.me ? "Listen" : "Sign in to listen";
  $("stop-btn").hidden = !listening || gone;
  $("captions-section").hidden = !listening || gone;
  renderListening();

  const raised = handRaised(room, me);
  $("hand-btn").hidden = !me || !live || page.removed || onStage(role) || raised;
  $("lower-btn").hidden = !raised || !live;

  $("invite").hidden = !(page.invited && onStage(role) && !page.mic && live);
  const speaking = live && onStage(role) && !page.removed;
  $("speaker-actions").hidden = !speaking || !$("invite").hidden;
  $("mic-btn").hidden = !!page.mic;
  $("mute-btn").hidden = !page.mic;
  $("mic-meter").hidden = !page.mic;
  $("mic-off-btn").hidden = !page.mic;
  $("step-down-btn").hidden = role !== "speaker";
  if (page.mic) {
    $("mute-btn").setAttribute("aria-pressed", String(page.mic.muted));
    $("mute-btn").textContent = page.mic.muted ? "Unmute microphone" : "Mute microphone";
  }

  const isHost = role === "host";
  $("host-actions").hidden = !moderates(role) || gone;
  $("start-btn").hidden = !isHost || room.status !== "scheduled";
  $("end-btn").hidden = !isHost || gone;

  renderStage();
  $("hands-section").hidden = !moderates(role) || gone;
  if (moderates(role)) renderHands();
  recording.render(room, { isHost, live, ended });
  moderation.render(moderates(role) && !page.removed);
  $("chapters-section").hidden = room.chapters.length === 0 && !(isHost && live);
  $("chapter-form").hidden = !(isHost && live);
  renderChapters();
}

function meterMic() {
  const bar = $("mic-meter").firstElementChild;
  bar.style.width = page.mic ? `${Math.min(100, Math.round(page.mic.level() * 400))}%` : "0";
}

// --- wiring -------------------------------------------------------------------------------

function wire() {
  $("listen-btn").addEventListener("click", listen);
  $("stop-btn").addEventListener("click", leave);
  $("hand-btn").addEventListener("click", async (e) => {
    const room = await act(e.currentTarget, () => api("POST", roomPath(roomId, "/hand")));
    if (room) {
      applyRoom(room);
      announce("Your hand is raised. The hosts see it in their queue.");
      $("lower-btn").focus();
    }
  });
  $("lower-btn").addEventListener("click", async (e) => {
    const room = await act(e.currentTarget, () => api("DELETE", roomPath(roomId, "/hand")));
    if (room) {
      applyRoom(room);
      announce("Your hand is lowered.");
      $("hand-btn").focus();
    }
  });
  const micButton = async (e) => {
    await act(e.currentTarget, micOn);
    if (page.mic) $("mute-btn").focus();
  };
  $("invite-accept").addEventListener("click", micButton);
  $("mic-btn").addEventListener("click", micButton);
  $("invite-decline").addEventListener("click", async (e) => {
    page.invited = false;
    if (myRole() === "speaker") {
      page.steppingDown = true;
      await moderate(e.currentTarget, "DELETE", userPath("speakers", page.me.id));
      page.steppingDown = false;
    }
    render();
  });
  $("mute-btn").addEventListener("click", toggleMute);
  $("mic-off-btn").addEventListener("click", () => {
    stopMic();
    announce("Your microphone is off.");
    render();
    $("mic-btn").focus();
  });
  $("step-down-btn").addEventListener("click", async (e) => {
    page.steppingDown = true;
    await moderate(e.currentTarget, "DELETE", userPath("speakers", page.me.id));
    page.steppingDown = false;
  });
  $("start-btn").addEventListener("click", (e) => moderate(e.currentTarget, "POST", "/start",
    "The room is live."));
  confirming($("end-btn"), "Click again to end the room for everyone", async () => {
    applyRoom(await api("POST", roomPath(roomId, "/end")));
  });
  $("add-speaker-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const userId = $("add-speaker").value.trim();
    if (!userId) return;
    await moderate($("add-speaker-btn"), "PUT", userPath("speakers", userId),
      `${userId} is invited to speak.`);
    if (!$("alert").textContent) $("add-speaker").value = "";
  });
  $("chapter-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const title = $("chapter-title").value.trim();
    if (!title) return;
    const room = await act($("chapter-btn"), () => api("POST", roomPath(roomId, "/chapters"), { title }));
    if (room) {
      applyRoom(room);
      $("chapter-title").value = "";
      announce(`Chapter “${title}” added.`);
    }
  });
  window.addEventListener("pagehide", () => {
    if (page.mic) page.mic.stop();
    if (page.hearing) page.hearing.stop();
  });
}

/** For tests and benchmarks: the page's state and what it plays. */
window.stoaApp = {
  page,
  get hearing() {
    return page.hearing;
  },
  get mic() {
    return page.mic;
  },
  samples: [],
  /** Every `everyMs`, the played RMS and the power in each [low, high) Hz band. */
  record(bands, everyMs = 20) {
    clearInterval(this.recording);
    this.samples = [];
    this.recording = setInterval(() => {
      const meter = page.hearing && page.hearing.meter;
      if (!meter) return;
      this.samples.push({ t: Date.now(), rms: meter.rms(), bands: meter.bands(bands) });
      if (this.samples.length > 30000) this.samples.shift();
    }, everyMs);
  },
};

function main() {
  renderAccount();
  if (!roomId) {
    $("room-title").textContent = "Room not found";
    return;
  }
  wire();
  poll();
  setInterval(pollIfDue, 1000);
  setInterval(meterMic, 100);
}

main();
