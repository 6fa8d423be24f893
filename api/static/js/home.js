/* The home page (`/`): rooms live now and soon, starting a room, and the sign-in screen.
 *
 * - Live rooms come from `GET /v1/rooms?status=live` (most listeners first), scheduled ones
 *   from `?status=scheduled` (soonest first); both lists refresh every POLL_MS and are
 *   updated in place (a focused link keeps its focus). "Show more" follows `next`.
 * - Starting a room: `POST /v1/rooms` (recorded unless unticked), then the room's own page.
 * - Signed in: the person's own recordings (`GET /v1/recordings?host_id=<me>`, all of them,
 *   private ones too), each linking to its replay page; asked once per visit.
 * - `/?signin&next=/rooms/…` is the sign-in screen: the dev form when the server has dev
 *   auth, otherwise a redirect to its login page (auth.js).
 */

import { api, roomPath } from "./api.js";
import {
  authConfig, currentUser, safeNext, setToken, startSignIn, takeFragmentToken, loginRedirect,
} from "./auth.js";
import { $, act, h, plural, renderAccount, showError, whenText } from "./ui.js";
import { clock } from "./timeline.js";
import { installSearch } from "./search.js";

const POLL_MS = 4000;
const PAGE = 20;

takeFragmentToken();

const params = new URLSearchParams(location.search);
let livePages = 1;

// --- the sign-in screen -------------------------------------------------------------

async function showSignIn() {
  const next = safeNext(params.get("next") || "/");
  $("home").hidden = true;
  $("signin-screen").hidden = false;
  document.title = "Sign in — Stoa";
  let config;
  try {
    config = await authConfig();
  } catch (e) {
    showError("The server cannot be reached. Check your connection and try again.");
    return;
  }
  if (!config.dev_auth) {
    $("signin-form").hidden = true;
    if (config.login_url) {
      $("signin-redirect").hidden = false;
      location.assign(loginRedirect(config.login_url, next));
    } else {
      showError("This server has no sign-in configured.");
    }
    return;
  }
  $("user-id").focus();
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const userId = $("user-id").value.trim();
    if (!userId || !/^[A-Za-z0-9_.:@-]{1,64}$/.test(userId)) {
      showError("Pick a user name of letters, digits and _ . : @ - (at most 64).");
      $("user-id").setAttribute("aria-invalid", "true");
      $("user-id").focus();
      return;
    }
    $("user-id").removeAttribute("aria-invalid");
    const displayName = $("display-name").value.trim();
    const answer = await act($("signin-submit"), () => api("POST", "/v1/auth/dev-token",
      { user_id: userId, display_name: displayName || null }, { auth: false }));
    if (!answer) return;
    setToken(answer.token);
    location.assign(next);
  });
}

// --- room lists ----------------------------------------------------------------------

function names(ids) {
  if (ids.length <= 5) return ids.join(", ");
  return `${ids.slice(0, 5).join(", ")} and ${ids.length - 5} more`;
}

function liveItem(room) {
  const others = (room.stage_ids || []).filter((id) => id !== room.host_id);
  const link = h("a", { href: `/rooms/${encodeURIComponent(room.room_id)}` }, room.title);
  return h("li", { dataset: { roomId: room.room_id } },
    h("div", { class: "room-head" },
      h("h3", {}, link),
      h("span", { class: "count" }, plural(room.listener_count, "listener"))),
    room.topics.length
      ? h("ul", { class: "topics", "aria-label": "Topics" }, room.topics.map((t) => h("li", {}, t)))
      : null,
    h("p", { class: "people" },
      "Hosted by ", h("strong", {}, room.host_id),
      others.length ? ` · with ${names(others)}` : ""));
}

function scheduledItem(room) {
  const link = h("a", { href: `/rooms/${encodeURIComponent(room.room_id)}` }, room.title);
  return h("li", { dataset: { roomId: room.room_id } },
    h("div", { class: "room-head" },
      h("h3", {}, link),
      room.scheduled_for
        ? h("time", { class: "count", datetime: room.scheduled_for }, whenText(room.scheduled_for))
        : h("span", { class: "count" }, "time to be announced")),
    room.topics.length
      ? h("ul", { class: "topics", "aria-label": "Topics" }, room.topics.map((t) => h("li", {}, t)))
      : null,
    h("p", { class: "people" }, "Hosted by ", h("strong", {}, room.host_id)));
}

/** Bring a shown room's item up to date in place: its link (maybe focused) stays. */
function patch(current, fresh) {
  const [head, ...rest] = current.children;
  const [freshHead, ...freshRest] = fresh.children;
  const link = head.querySelector("a");
  const title = freshHead.querySelector("a").textContent;
  if (link.textContent !== title) link.textContent = title;
  head.lastElementChild.replaceWith(freshHead.lastElementChild);
  rest.forEach((node) => node.remove());
  current.append(...freshRest);
}

/** Put `rooms` into `list` in order, reusing the item of a room already shown. */
function update(list, rooms, make) {
  const old = new Map([...list.children].map((li) => [li.dataset.roomId, li]));
  const items = rooms.map((room) => {
    const fresh = make(room);
    const current = old.get(room.room_id);
    if (!current) return fresh;
    if (current.textContent !== fresh.textContent) patch(current, fresh);
    return current;
  });
  const keep = new Set(items);
  for (const li of [...list.children]) if (!keep.has(li)) li.remove();
  items.forEach((item, i) => {
    if (list.children[i] !== item) list.insertBefore(item, list.children[i] || null);
  });
}

async function pages(status, count, limit) {
  const rooms = [];
  let cursor = null;
  let next = null;
  for (let i = 0; i < count; i += 1) {
    const query = new URLSearchParams({ status, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    const page = await api("GET", `/v1/rooms?${query}`, undefined, { auth: false });
    rooms.push(...page.rooms);
    next = page.next;
    if (!next) break;
    cursor = next;
  }
  const seen = new Set();
  return { rooms: rooms.filter((r) => !seen.has(r.room_id) && seen.add(r.room_id)), next };
}

let failures = 0;

async function refresh() {
  try {
    const [live, soon] = await Promise.all([
      pages("live", livePages, PAGE),
      pages("scheduled", 1, 10),
    ]);
    update($("live-rooms"), live.rooms, liveItem);
    $("live-empty").hidden = live.rooms.length > 0;
    $("live-more").hidden = !live.next;
    update($("scheduled-rooms"), soon.rooms, scheduledItem);
    $("soon-empty").hidden = soon.rooms.length > 0;
    if (failures) showError("");
    failures = 0;
  } catch (e) {
    failures += 1;
    if (failures === 2) showError(`The room list could not be loaded: ${e.message}`);
  }
}

// --- the person's recordings ------------------------------------------------------------

const RECORDING_STATUS = { recording: "recording now", processing: "being prepared", ready: null };

function recordingItem(rec) {
  const when = rec.started_at ? new Date(rec.started_at) : null;
  const facts = [
    rec.duration_seconds != null ? `length ${clock(rec.duration_seconds)}` : null,
    RECORDING_STATUS[rec.status] || null,
    rec.published ? "published" : "private",
  ].filter(Boolean).join(" · ");
  return h("li", {},
    h("div", { class: "room-head" },
      h("h3", {}, h("a", { href: `/recordings/${encodeURIComponent(rec.recording_id)}` }, rec.title)),
      when ? h("time", { class: "count", datetime: rec.started_at },
        when.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })) : null),
    h("p", { class: "people" }, facts));
}

/** The signed-in person's recordings: theirs to publish, clip or delete on each page. */
async function myRecordings() {
  const me = currentUser();
  if (!me) return;
  let list;
  try {
    list = await api("GET", `/v1/recordings?host_id=${encodeURIComponent(me.id)}`);
  } catch (e) {
    return; // the rooms above matter more; a person without recordings loses nothing
  }
  $("recordings-section").hidden = false;
  $("recordings").replaceChildren(...list.items.map(recordingItem));
  $("recordings-empty").hidden = list.items.length > 0;
}

// --- starting a room -------------------------------------------------------------------

function createForm() {
  const signedIn = !!currentUser();
  $("create-form").hidden = !signedIn;
  $("create-signed-out").hidden = signedIn;
  $("create-signin-btn").addEventListener("click", () => startSignIn().catch((e) => showError(e.message)));
  for (const radio of document.querySelectorAll("input[name=when]")) {
    radio.addEventListener("change", () => {
      $("schedule-fields").hidden = !$("start-later").checked;
    });
  }
  $("create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = $("title").value.trim();
    if (!title) {
      showError("Give the room a title.");
      $("title").setAttribute("aria-invalid", "true");
      $("title").focus();
      return;
    }
    $("title").removeAttribute("aria-invalid");
    const topics = $("topics").value.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
    const body = { title, topics, recording: $("record-room").checked };
    if ($("start-later").checked) {
      const at = $("scheduled-for").value;
      if (!at) {
        showError("Pick a start time, or choose Start now.");
        $("scheduled-for").focus();
        return;
      }
      body.scheduled_for = new Date(at).toISOString();
    } else {
      body.start_now = true;
    }
    const room = await act($("create-btn"), () => api("POST", "/v1/rooms", body));
    if (room) location.assign(`/rooms/${encodeURIComponent(room.room_id)}`);
  });
}

function main() {
  renderAccount();
  if (params.has("signin")) {
    showSignIn();
    return;
  }
  createForm();
  installSearch();
  $("live-more").addEventListener("click", () => {
    livePages += 1;
    refresh();
  });
  refresh();
  setInterval(refresh, POLL_MS);
  myRecordings();
}

window.stoaHome = { refresh, roomPath };
main();
