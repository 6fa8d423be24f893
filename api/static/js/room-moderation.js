/* The room page's moderation queue, for the host and co-hosts.
 *
 * Automated flags (what speech-to-text flagged, with the words, the category and the score)
 * and people's reports wait in one list, worst first (`GET /v1/moderation/flags?room_id=`,
 * asked again every few seconds while the section shows). Each item offers what a moderator
 * does: mute or remove the person it is about, end the room, or dismiss it
 * (`POST /v1/moderation/flags/{id}/resolve`); the action goes through the room's rules, so a
 * refusal shows the API's sentence. A flag's "Play" button plays that moment of the room's
 * recording (a media fragment `#t=start,end` of the recording's audio), which exists once
 * the room has ended and the recording is finished; before that the button says so.
 */

import { api } from "./api.js";
import { getToken } from "./auth.js";
import { $, act, announce, h } from "./ui.js";

const POLL_MS = 3000;

const clock = (seconds) => {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

export class ModerationQueue {
  /**
   * @param {string} roomId
   * @param {(room: object) => void} refresh asks the page to fetch the room again (a resolve
   *   may have muted or removed someone, or ended the room)
   */
  constructor(roomId, refresh) {
    this.roomId = roomId;
    this.refresh = refresh;
    this.items = [];
    this.shown = false;
    this.timer = null;
    this.player = null;
    this.signature = "";
  }

  /** Show the queue to moderators only; poll while it shows. */
  render(moderates) {
    this.shown = moderates;
    $("flags-section").hidden = !moderates;
    if (moderates && !this.timer) {
      this.load();
      this.timer = setInterval(() => this.load(), POLL_MS);
    } else if (!moderates && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  async load() {
    let answer;
    try {
      answer = await api("GET", `/v1/moderation/flags?room_id=${encodeURIComponent(this.roomId)}`);
    } catch (e) {
      return; // not (or no longer) a moderator, or offline: the next poll tries again
    }
    const before = new Set(this.items.map((i) => i.item_id));
    this.items = answer.items;
    const fresh = this.items.filter((i) => !before.has(i.item_id));
    if (before.size || this.signature) {
      for (const item of fresh) announce(`New in the moderation queue: ${describe(item)}.`);
    }
    this.draw();
  }

  draw() {
    const signature = JSON.stringify(this.items.map((i) => i.item_id));
    if (signature === this.signature) return; // keep focus and any playing clip
    this.signature = signature;
    const list = $("flags");
    list.replaceChildren(...this.items.map((item) => this.row(item)));
    $("flags-empty").hidden = this.items.length > 0;
  }

  row(item) {
    const who = item.user_id || "nobody in particular";
    const head = item.kind === "flag"
      ? `${item.category} (${Math.round((item.score || 0) * 100)} %) — ${who} at ${clock(item.start_seconds || 0)}`
      : `Report: ${item.category} — about ${who}, by ${item.raised_by}`;
    const buttons = [];
    if (item.kind === "flag" && item.start_seconds !== null) {
      buttons.push(h("button", {
        type: "button", class: "small", "aria-label": `Play what was flagged: ${describe(item)}`,
        onclick: (e) => this.play(e.currentTarget, item),
      }, "Play"));
    }
    const resolve = (action, label) => h("button", {
      type: "button", class: action === "dismiss" ? "small" : "small danger",
      "aria-label": `${label}: ${describe(item)}`,
      onclick: (e) => this.resolve(e.currentTarget, item, action, label),
    }, label);
    if (item.user_id) buttons.push(resolve("mute", "Mute"), resolve("remove", "Remove"));
    buttons.push(resolve("end_room", "End room"), resolve("dismiss", "Dismiss"));
    return h("li", { class: "flag" },
      h("p", { class: "flag-head" }, head),
      item.text ? h("blockquote", { class: "flag-text" }, item.text) : null,
      h("div", { class: "mod" }, ...buttons));
  }

  async resolve(button, item, action, label) {
    const done = await act(button, () => api(
      "POST", `/v1/moderation/flags/${encodeURIComponent(item.item_id)}/resolve`, { action },
    ));
    if (!done) return;
    announce(`${label}: done. ${describe(item)} is resolved.`);
    this.items = this.items.filter((i) => i.item_id !== item.item_id);
    this.draw();
    this.refresh();
  }

  /** That moment of the recording, through a media fragment; refused until it exists. */
  async play(button, item) {
    const url = `/v1/recordings/${encodeURIComponent(item.recording_id)}/audio`;
    const token = getToken();
    const src = `${url}${token ? `?token=${encodeURIComponent(token)}` : ""}`
      + `#t=${item.start_seconds},${item.end_seconds}`;
    if (this.player) this.player.pause();
    this.player = new Audio(src);
    try {
      await this.player.play();
      button.textContent = "Playing";
      this.player.addEventListener("pause", () => { button.textContent = "Play"; }, { once: true });
    } catch (e) {
      announce("The recording of this moment is ready once the room has ended.");
    }
  }
}

function describe(item) {
  return item.kind === "flag"
    ? `${item.category} flag on ${item.user_id || "the room"}`
    : `report about ${item.user_id || "the room"}`;
}
