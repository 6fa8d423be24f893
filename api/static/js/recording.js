/* The replay page (`/recordings/{id}`): play a room's recording, find your way in it, and
 * (for its host) clip, publish or delete it.
 *
 * - `GET /v1/recordings/{id}` is the whole page: title, host, date, length, status, the
 *   files, chapters, speaker turns, participants and clips. While the recording is being
 *   prepared (`processing`) it is asked again every 2 s, so the player appears by itself.
 * - The player is a native `<audio>` on the Ogg Opus file (byte ranges, so seeking does
 *   not download the file). `<audio src>` cannot send headers, so a signed-in person's
 *   token rides along as `?token=`: an unpublished recording is the host's and co-hosts'.
 * - The timeline (timeline.js) seeks the player; the player moves the timeline's marks.
 * - The host publishes and unpublishes, deletes (two presses) and cuts clips from a range
 *   (typed as m:ss or taken from the player's position). A refusal shows the API's own
 *   sentence in #alert; what changed is said in the polite #notice.
 * - The transcript (transcript.js, from `GET …/transcript`) lists what was said; a line
 *   seeks there, and the host makes a clip of the lines selected.
 * - `?t=SECONDS` (a search result's link) starts the player there.
 */

import { api } from "./api.js";
import { currentUser, getToken, takeFragmentToken } from "./auth.js";
import { clock, parseClock, Timeline } from "./timeline.js";
import { MAX_CLIP_SECONDS, Transcript } from "./transcript.js";
import { $, act, announce, confirming, h, plural, renderAccount, showError } from "./ui.js";

const POLL_MS = { processing: 2000, recording: 10000, scheduled: 30000 };
const STATUS = {
  ready: "Ready",
  processing: "Being prepared",
  recording: "Recording now",
  scheduled: "Not started",
  off: "Not recorded",
  empty: "Nothing recorded",
  deleted: "Deleted",
};
const BANNER = {
  processing: "The recording is being prepared. It will play here in a moment.",
  recording: "The room is still live. Its recording will be ready shortly after it ends.",
  scheduled: "The room has not started yet.",
  off: "The host turned recording off, so this room has no recording.",
  empty: "Nothing was heard in this room, so there is nothing to play.",
};
const ROLE_NAMES = { host: "Host", cohost: "Co-host", speaker: "Speaker" };

takeFragmentToken();

const match = location.pathname.match(/^\/recordings\/([^/]+)\/?$/);
const recordingId = match ? decodeURIComponent(match[1]) : null;
const recordingPath = (rest = "") => `/v1/recordings/${encodeURIComponent(recordingId)}${rest}`;

const page = {
  me: currentUser(), rec: null, deleted: false, timer: null,
  startAt: startPosition(), transcriptOf: null, selection: null,
};
const player = $("player");
const timeline = new Timeline($("timeline"), $("chapter-list"), seek);
const transcript = new Transcript($("transcript"), {
  onSeek: (seconds) => seek(seconds, { play: true }),
  onSelect: selectLines,
});

/** `?t=SECONDS` from a search result: where to start playing (null: from the start). */
function startPosition() {
  const t = Number.parseFloat(new URLSearchParams(location.search).get("t"));
  return Number.isFinite(t) && t >= 0 ? t : null;
}

const isHost = () => !!page.me && !!page.rec && page.me.id === page.rec.host_id;
const moderates = () => isHost() || (!!page.me && !!page.rec && page.rec.cohost_ids.includes(page.me.id));

/**
 * A file's URL as this page fetches it: on this origin (the API names its own base, which
 * a proxy may hide), with the person's token when `withToken` (`<audio>` sends no headers).
 */
function mediaUrl(url, withToken = true) {
  const address = new URL(url, location.href);
  const token = getToken();
  if (withToken && token) address.searchParams.set("token", token);
  return address.pathname + address.search;
}

// --- loading ----------------------------------------------------------------------------

async function load() {
  clearTimeout(page.timer);
  if (page.deleted) return;
  let rec;
  try {
    rec = await api("GET", recordingPath());
  } catch (e) {
    refused(e);
    return;
  }
  const was = page.rec && page.rec.status;
  page.rec = rec;
  showError("");
  render();
  if (was && was !== rec.status && rec.status === "ready") announce("The recording is ready to play.");
  const wait = POLL_MS[rec.status];
  if (wait) page.timer = setTimeout(load, wait);
}

/** The API said no (not found, not published, not signed in): its sentence, nothing else. */
function refused(error) {
  page.rec = null;
  const gone = error.status === 404 || error.status === 422;
  const title = gone ? "Recording not found"
    : error.status === 401 || error.status === 403 ? "This recording is not published"
      : "The recording could not be loaded";
  $("rec-title").textContent = title;
  document.title = `${title} — Stoa`;
  showError(error.message);
  for (const id of ["player-box", "timeline-section", "people-section", "clips-section",
    "manage-section", "rec-status", "rec-published", "rec-topics", "rec-room",
    "transcript-section"]) $(id).hidden = true;
  for (const id of ["rec-host", "rec-date", "rec-duration"]) $(id).textContent = "";
  setBanner(error.status === 401 ? "Sign in (top of the page) if you host this room." : "");
  stopPlayer();
}

function setBanner(text) {
  $("rec-banner").textContent = text;
  $("rec-banner").hidden = !text;
}

// --- drawing ----------------------------------------------------------------------------

function render() {
  const rec = page.rec;
  const ready = rec.status === "ready" && !!rec.audio;
  document.title = `${rec.title} (recording) — Stoa`;
  $("rec-title").textContent = rec.title;
  const status = $("rec-status");
  status.hidden = false;
  status.textContent = STATUS[rec.status] || rec.status;
  status.className = `badge ${rec.status}`;
  const published = $("rec-published");
  published.hidden = !moderates() || !ready;
  published.textContent = rec.published ? "Published" : "Private";
  published.className = `badge ${rec.published ? "published" : "private"}`;
  $("rec-host").textContent = `Hosted by ${rec.host_id}`;
  const date = $("rec-date");
  date.replaceChildren(rec.started_at
    ? h("time", { datetime: rec.started_at }, new Date(rec.started_at).toLocaleString(undefined, {
      dateStyle: "medium", timeStyle: "short",
    }))
    : "");
  $("rec-duration").textContent = rec.duration_seconds != null ? `Length ${clock(rec.duration_seconds)}` : "";
  const topics = $("rec-topics");
  topics.hidden = rec.topics.length === 0;
  topics.replaceChildren(...rec.topics.map((t) => h("li", {}, t)));
  $("rec-room").hidden = false;
  $("rec-room-link").href = `/rooms/${encodeURIComponent(rec.room_id)}`;
  setBanner(BANNER[rec.status] || "");

  $("player-box").hidden = !ready;
  if (ready) renderPlayer(rec);
  renderTranscript(rec, ready);
  $("timeline-section").hidden = !ready;
  if (ready) {
    timeline.render({ duration: rec.duration_seconds, chapters: rec.chapters, turns: rec.turns });
    timeline.show(player.currentTime || 0);
  }
  renderPeople(rec);
  $("clips-section").hidden = !ready || (rec.clips.length === 0 && !isHost());
  renderClips(rec);
  $("clip-form").hidden = !isHost() || !ready;
  renderManage(rec, ready);
}

function renderPlayer(rec) {
  const src = mediaUrl(rec.audio.url);
  if (player.getAttribute("src") !== src) {
    player.src = src;
    if (page.startAt !== null) startFrom(page.startAt);
  }
  const download = $("download");
  download.hidden = !rec.podcast;
  if (rec.podcast) {
    download.href = mediaUrl(rec.podcast.url, !rec.published);
    download.setAttribute("download", `${rec.title.replace(/[^\w .-]+/g, "").trim() || "recording"}.m4a`);
  }
  const missing = $("missing");
  missing.hidden = !(rec.missing_seconds >= 1);
  missing.textContent = `${Math.round(rec.missing_seconds)} s of the room could not be recorded; `
    + "they play as silence.";
}

/** The transcript section: fetched once per count of segments (it grows while live). */
async function renderTranscript(rec, ready) {
  const section = $("transcript-section");
  section.hidden = !ready || !rec.transcript_url;
  if (section.hidden) return;
  $("transcript-clip").hidden = !isHost();
  $("transcript-hint").textContent = isHost()
    ? "Press a line to play from there. Tick lines to make a clip of them."
    : "Press a line to play from there.";
  const captions = $("captions-link");
  captions.hidden = !rec.captions_url;
  if (rec.captions_url) captions.href = mediaUrl(rec.captions_url, !rec.published);
  const key = `${rec.recording_id}:${rec.transcript_segments}:${isHost()}`;
  if (page.transcriptOf === key) return;
  page.transcriptOf = key;
  const state = $("transcript-state");
  try {
    const body = await api("GET", recordingPath("/transcript"));
    transcript.render(body.segments, { selectable: isHost() });
    state.hidden = body.segments.length > 0;
    state.textContent = "Nothing was transcribed.";
  } catch (e) {
    page.transcriptOf = null;
    state.hidden = false;
    state.textContent = e.message;
  }
}

/** The host ticked or unticked lines: say what the clip would be, and whether it can be. */
function selectLines(range) {
  page.selection = range;
  const button = $("transcript-clip-btn");
  const tooLong = !!range && range.end - range.start > MAX_CLIP_SECONDS;
  button.disabled = !range || tooLong;
  $("transcript-clear").disabled = !range;
  $("transcript-selection").textContent = !range ? "No lines selected."
    : tooLong ? "That is more than 10 minutes: select fewer lines."
      : `Clip ${clock(range.start, { tenths: true })}–${clock(range.end, { tenths: true })}.`;
}

async function clipLines() {
  const range = page.selection;
  if (!range) return;
  const end = page.rec.duration_seconds ? Math.min(range.end, page.rec.duration_seconds) : range.end;
  const body = { start: Math.round(range.start * 10) / 10, end: Math.round(end * 10) / 10 };
  const clip = await act($("transcript-clip-btn"), () => api("POST", recordingPath("/clips"), body));
  if (!clip) return;
  page.rec = { ...page.rec, clips: [...page.rec.clips, clip] };
  transcript.clear();
  render();
  announce(`Clip “${clipName(clip)}” created, ${clipRange(clip)}. It is in the clip list.`);
}

function renderPeople(rec) {
  const stage = rec.participants.filter((p) => ROLE_NAMES[p.role]);
  $("people-section").hidden = rec.participants.length === 0 && !rec.listeners_total;
  $("people-summary").textContent = `${plural(rec.listeners_total, "person", "people")} `
    + `${rec.listeners_total === 1 ? "was" : "were"} in the room`
    + (stage.length ? `; ${plural(stage.length, "person", "people")} on stage:` : ".");
  $("people").replaceChildren(...stage.map((p) => h("li", {},
    h("span", { class: "name" }, p.user_id), " ", h("span", { class: "role" }, ROLE_NAMES[p.role]))));
}

const clipName = (clip) => clip.title || `Clip at ${clock(clip.start_seconds)}`;
const clipRange = (clip) => `${clock(clip.start_seconds, { tenths: true })}–`
  + `${clock(clip.end_seconds, { tenths: true })}`;

/** The clips, each with its own player; a clip already shown keeps its element (and playback). */
function renderClips(rec) {
  const list = $("clips");
  const shown = new Map([...list.children].map((li) => [li.dataset.clipId, li]));
  const items = rec.clips.map((clip) => shown.get(clip.clip_id) || h("li", { dataset: { clipId: clip.clip_id } },
    h("p", { class: "clip-head" },
      h("strong", {}, clipName(clip)), " ",
      h("span", { class: "hint" }, `${clipRange(clip)} (${clock(clip.end_seconds - clip.start_seconds)})`)),
    h("audio", {
      controls: true, preload: "metadata", src: mediaUrl(clip.url), "aria-label": `Clip: ${clipName(clip)}`,
    })));
  list.replaceChildren(...items);
  $("clips-empty").hidden = rec.clips.length > 0;
}

function renderManage(rec, ready) {
  $("manage-section").hidden = !isHost();
  if (!isHost()) return;
  $("publish-state").textContent = rec.published
    ? "Published: anyone with the link can hear this recording."
    : "Private: only you and your co-hosts can hear this recording.";
  const button = $("publish-btn");
  button.textContent = rec.published ? "Unpublish" : "Publish";
  button.hidden = !ready && !rec.published;
  $("delete-btn").hidden = rec.status === "processing";
}

// --- playing ------------------------------------------------------------------------------

/** The timeline asked to go to `seconds` (a chapter also starts playing). */
function seek(seconds, { play }) {
  player.currentTime = seconds;
  if (play) {
    // a later pause or seek rejects the promise: that is no error
    player.play().catch(() => {});
  }
}

/** Play from `seconds` once the player knows the file (the `?t=` of a search result). */
function startFrom(seconds) {
  page.startAt = null;
  const go = () => seek(seconds, { play: true });
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, { once: true });
}

function stopPlayer() {
  player.pause();
  if (player.hasAttribute("src")) {
    player.removeAttribute("src");
    player.load();
  }
  for (const audio of $("clips").querySelectorAll("audio")) audio.pause();
}

/** While playing, the playhead moves every frame; `timeupdate` alone is 4 times a second. */
function follow() {
  timeline.show(player.currentTime);
  transcript.show(player.currentTime);
  if (!player.paused && !player.ended) requestAnimationFrame(follow);
}

// --- the host's controls ----------------------------------------------------------------

async function togglePublish() {
  const publishing = !page.rec.published;
  const rec = await act($("publish-btn"), () => api(publishing ? "POST" : "DELETE", recordingPath("/publish")));
  if (!rec) return;
  page.rec = rec;
  render();
  announce(publishing ? "The recording is published: anyone with the link can hear it."
    : "The recording is private again: only you and your co-hosts can hear it.");
}

async function deleteRecording() {
  await api("DELETE", recordingPath());
  page.deleted = true;
  clearTimeout(page.timer);
  stopPlayer();
  for (const id of ["player-box", "timeline-section", "people-section", "clips-section",
    "manage-section", "rec-published", "transcript-section"]) $(id).hidden = true;
  $("rec-status").textContent = STATUS.deleted;
  $("rec-status").className = "badge deleted";
  $("rec-duration").textContent = "";
  setBanner("This recording was deleted: its audio and clips are gone for good.");
  announce("The recording was deleted.");
  $("rec-title").focus();
}

function invalid(input, sentence) {
  showError(sentence);
  input.setAttribute("aria-invalid", "true");
  input.focus();
  return null;
}

/** The range in the form, checked as the API would, so a slip is told before sending. */
function clipRangeFromForm() {
  const [startInput, endInput] = [$("clip-start"), $("clip-end")];
  startInput.removeAttribute("aria-invalid");
  endInput.removeAttribute("aria-invalid");
  const start = parseClock(startInput.value);
  if (start === null) return invalid(startInput, "Type the clip's start as m:ss, for example 1:05.");
  const end = parseClock(endInput.value);
  if (end === null) return invalid(endInput, "Type the clip's end as m:ss, for example 1:30.");
  if (end <= start) return invalid(endInput, "The clip's end must come after its start.");
  if (end - start > MAX_CLIP_SECONDS) return invalid(endInput, "A clip is at most 10 minutes long.");
  return { start, end };
}

async function createClip(event) {
  event.preventDefault();
  const range = clipRangeFromForm();
  if (!range) return;
  const title = $("clip-title").value.trim();
  const body = title ? { ...range, title } : range;
  const clip = await act($("clip-btn"), () => api("POST", recordingPath("/clips"), body));
  if (!clip) return;
  page.rec = { ...page.rec, clips: [...page.rec.clips, clip] };
  render();
  $("clip-title").value = "";
  announce(`Clip “${clipName(clip)}” created, ${clipRange(clip)}. It is in the clip list.`);
}

function setHere(input, which) {
  input.value = clock(player.currentTime, { tenths: true });
  input.removeAttribute("aria-invalid");
  announce(`Clip ${which} set to ${input.value}.`);
}

// --- wiring -------------------------------------------------------------------------------

function wire() {
  for (const name of ["timeupdate", "seeked", "loadedmetadata"]) {
    player.addEventListener(name, () => {
      timeline.show(player.currentTime);
      transcript.show(player.currentTime);
    });
  }
  player.addEventListener("play", () => requestAnimationFrame(follow));
  player.addEventListener("error", () => {
    if (!page.deleted && player.hasAttribute("src")) {
      showError("The recording's audio could not be loaded. Reload the page to try again.");
    }
  });
  $("publish-btn").addEventListener("click", togglePublish);
  confirming($("delete-btn"), "Press again to delete it for good", deleteRecording);
  $("clip-form").addEventListener("submit", createClip);
  $("clip-start-here").addEventListener("click", () => setHere($("clip-start"), "start"));
  $("clip-end-here").addEventListener("click", () => setHere($("clip-end"), "end"));
  $("transcript-clip-btn").addEventListener("click", clipLines);
  $("transcript-clear").addEventListener("click", () => transcript.clear());
}

/** For tests: the page's state and its player. */
window.stoaRecording = { page, player, timeline, transcript };

function main() {
  renderAccount();
  if (!recordingId) {
    $("rec-title").textContent = "Recording not found";
    return;
  }
  wire();
  load();
}

main();
