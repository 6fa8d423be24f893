/* The room page's "Recording" section and its "This room is being recorded" note.
 *
 * - Everyone, while the room is live and recorded: a note under the room's title, so a
 *   person knows before speaking that what they say is kept.
 * - The host, before the room ends: a "Record this room" checkbox (`PUT …/recording`)
 *   showing the room's current setting, and a link to the recording's page once it has one.
 * - Anyone, after the end: a link to the replay page when `GET /v1/rooms/{id}/recordings`
 *   lists a recording this person may see (the host's right away; others' once published).
 *   The list is asked again only when something it depends on changed (status, setting,
 *   published, deleted), not on every redraw of the room.
 */

import { api, roomPath } from "./api.js";
import { $, act, announce } from "./ui.js";

const LINK_TEXT = {
  ready: "Play the recording",
  processing: "The recording's page (it is being prepared)",
  recording: "The recording's page (ready after the room ends)",
};

export class RecordingSection {
  /**
   * @param {string} roomId
   * @param {(room: object) => void} applyRoom takes the RoomView a `PUT …/recording` answers
   */
  constructor(roomId, applyRoom) {
    this.roomId = roomId;
    this.applyRoom = applyRoom;
    this.asked = "";
    this.found = null;
    this.answered = false;
    this.ended = false;
    this.retries = 0;
    this.box = $("record-toggle");
    this.box.addEventListener("change", () => this.toggle());
  }

  /** Redraw for `room` as this person sees it. */
  render(room, { isHost, live, ended }) {
    $("recording-note").hidden = !(live && room.recording);
    this.ended = ended;
    const key = JSON.stringify([room.status, ended, room.recording, room.recording_published,
      room.recording_deleted, isHost]);
    if (key !== this.asked && (ended || isHost)) {
      this.asked = key;
      this.lookUp();
    }
    const settable = isHost && !ended;
    $("record-toggle-row").hidden = !settable;
    if (settable && document.activeElement !== this.box) this.box.checked = room.recording;
    let state = "";
    if (settable) {
      state = room.status === "scheduled"
        ? room.recording ? "The room will be recorded from its start." : "The room will not be recorded."
        : room.recording ? "The room is being recorded. After it ends you can publish, clip or delete the recording."
          : "The room is not being recorded.";
    } else if (ended && isHost && this.answered && !this.found) {
      state = room.recording_deleted ? "You deleted this room's recording."
        : room.recording ? "Nothing was recorded in this room." : "This room was not recorded.";
    }
    $("recording-state").textContent = state;
    const link = $("recording-link");
    $("recording-link-row").hidden = !this.found;
    if (this.found) {
      link.href = `/recordings/${encodeURIComponent(this.found.recording_id)}`;
      link.textContent = LINK_TEXT[this.found.status] || "The recording's page";
    }
    $("recording-section").hidden = !settable && !this.found && !state;
  }

  /** Which recording of this room the person may see, if any (quietly: nothing to refuse). */
  async lookUp() {
    const asked = this.asked;
    let list;
    try {
      list = await api("GET", roomPath(this.roomId, "/recordings"));
    } catch (e) {
      return;
    }
    if (asked !== this.asked) return;
    this.found = list.items[0] || null;
    this.answered = true;
    this.onFound();
    // after the end the recording is finished within seconds: follow it until it is ready
    if (this.ended && this.found && this.found.status !== "ready" && this.retries < 20) {
      this.retries += 1;
      setTimeout(() => { if (asked === this.asked) this.lookUp(); }, 3000);
    }
  }

  /** Set by the page: draw again once the list answered. */
  onFound() {}

  async toggle() {
    const enabled = this.box.checked;
    const room = await act(this.box, () => api("PUT", roomPath(this.roomId, "/recording"), { enabled }));
    if (!room) {
      this.box.checked = !enabled;
      return;
    }
    this.applyRoom(room);
    announce(enabled ? "Recording is on: the room is recorded from now on."
      : "Recording is off: from now on nothing more of the room is recorded.");
  }
}
