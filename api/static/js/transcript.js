/* The replay page's transcript: what was said, line by line, on the recording's clock.
 *
 * `GET /v1/recordings/{id}/transcript` gives the final segments (start, end, speaker, text)
 * in seconds from the room's start, which is where the recording starts: a line's start
 * is a position in the player as it is.
 *
 * - Each line is a button ("m:ss speaker: words"); pressing it plays from there.
 * - `show(t)` marks the line being heard (`aria-current`), as the timeline does.
 * - For the host, each line has a checkbox: the selected lines, from the first one's start
 *   to the last one's end, become a clip with "Make a clip" (at most 10 minutes).
 */

import { clock } from "./timeline.js";
import { h } from "./ui.js";

export const MAX_CLIP_SECONDS = 600;

/** The span of the selected segments: first start to last end, or null when none. */
export function span(segments) {
  if (segments.length === 0) return null;
  const start = Math.min(...segments.map((s) => s.start));
  const end = Math.max(...segments.map((s) => s.end));
  return { start, end: Math.max(end, start + 0.1) };
}

export class Transcript {
  /**
   * @param {HTMLOListElement} list where the lines go
   * @param {{onSeek: (seconds: number) => void, onSelect: (range: object|null) => void}} hooks
   */
  constructor(list, { onSeek, onSelect }) {
    this.list = list;
    this.onSeek = onSeek;
    this.onSelect = onSelect;
    this.segments = [];
    this.selectable = false;
  }

  render(segments, { selectable }) {
    this.segments = segments;
    this.selectable = selectable;
    this.list.replaceChildren(...segments.map((segment, i) => this.line(segment, i)));
    this.changed();
  }

  line(segment, i) {
    const at = clock(segment.start);
    const who = segment.speaker_id || "Someone";
    const box = this.selectable ? h("input", {
      type: "checkbox", class: "line-pick", dataset: { index: String(i) },
      "aria-label": `Select the line at ${at} for a clip`,
      onchange: () => this.changed(),
    }) : null;
    return h("li", { dataset: { start: String(segment.start), end: String(segment.end) } },
      box,
      h("button", {
        type: "button", class: "line",
        onclick: () => this.onSeek(segment.start),
      },
      h("span", { class: "line-time" }, at), " ",
      h("span", { class: "name" }, `${who}:`), " ",
      h("span", { class: "line-text" }, segment.text)));
  }

  selected() {
    return [...this.list.querySelectorAll("input.line-pick:checked")]
      .map((box) => this.segments[Number(box.dataset.index)]);
  }

  clear() {
    for (const box of this.list.querySelectorAll("input.line-pick:checked")) box.checked = false;
    this.changed();
  }

  changed() {
    this.onSelect(span(this.selected()));
  }

  /** Mark the line that holds `t` (the player's position). */
  show(t) {
    for (const li of this.list.children) {
      const inside = t >= Number(li.dataset.start) && t < Number(li.dataset.end);
      const button = li.querySelector("button.line");
      if (inside) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }
}
