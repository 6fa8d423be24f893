/* The replay page's timeline: chapters and speaker turns on the recording's own clock.
 *
 * Offsets (chapters, turns) count seconds from the room's start, which is where the
 * recording's file starts too, so an offset is a position in the player as it is.
 *
 * What it draws:
 * - a ruler (pointer only, hidden from assistive technology: the player's own slider is
 *   the keyboard way to seek anywhere) with a tick per chapter and the playhead;
 * - one lane per speaker, each turn a button placed and sized by its time. The turns form
 *   one toolbar with a single tab stop (arrow keys, Home and End move between turns in
 *   time order), so a room with hundreds of turns does not take hundreds of Tab presses;
 * - the chapters as a list of buttons named "Chapter: <title> at m:ss", showing "<title> at
 *   m:ss" (the visible words are part of the name, so speech control finds them).
 * `show(t)` marks where the player is: the playhead, and `aria-current` on the chapter
 * and the turns that hold `t`.
 */

import { h } from "./ui.js";

/** Lane colours: each ≥ 4.5:1 on the lane's light background (non-text needs 3:1). */
const COLOURS = ["#24584a", "#6d3a8f", "#9a4216", "#1f5a94", "#6a5a00", "#8f1d4d"];

/** "1:05", "1:02:03"; with `tenths`, "1:05.4" (for a clip's range, where tenths matter). */
export function clock(seconds, { tenths = false } = {}) {
  const raw = Math.max(0, Number(seconds) || 0);
  const total = tenths ? Math.round(raw * 10) / 10 : raw;
  const whole = tenths ? Math.floor(total) : Math.round(total);
  const h_ = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  let text = h_ ? `${h_}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`
    : `${m}:${String(s).padStart(2, "0")}`;
  if (tenths) {
    const tenth = Math.round((total - whole) * 10);
    if (tenth) text += `.${tenth}`;
  }
  return text;
}

/** "m:ss", "h:mm:ss", "m:ss.s" or plain seconds ("75", "7.5") → seconds; null if not a time. */
export function parseClock(text) {
  const value = String(text || "").trim();
  if (!/^(\d+:){0,2}\d+(\.\d+)?$/.test(value)) return null;
  const parts = value.split(":").map(Number);
  if (parts.slice(1).some((p) => p >= 60)) return null;
  return parts.reduce((sum, part) => sum * 60 + part, 0);
}

const percent = (t, duration) => `${Math.min(100, Math.max(0, (t / duration) * 100))}%`;

export class Timeline {
  /**
   * @param {HTMLElement} root where the ruler and the lanes go
   * @param {HTMLOListElement} chapterList where the chapter buttons go
   * @param {(seconds: number, options: {play: boolean, what: string}) => void} onSeek
   */
  constructor(root, chapterList, onSeek) {
    this.root = root;
    this.chapterList = chapterList;
    this.onSeek = onSeek;
    this.duration = 0;
    this.chapters = [];
    this.turns = [];
    this.signature = "";
    this.playheads = [];
    this.turnButtons = [];
    this.chapterButtons = [];
  }

  /** Draw the timeline for a recording; drawn again only when what it shows changed. */
  render({ duration, chapters, turns }) {
    const length = Math.max(duration || 0, ...turns.map((t) => t.end || t.start), 0.1);
    const signature = JSON.stringify([length, chapters, turns]);
    if (signature === this.signature) return;
    this.signature = signature;
    this.duration = length;
    this.chapters = chapters;
    this.turns = turns.map((t) => ({ ...t, end: t.end == null ? length : t.end }))
      .sort((a, b) => a.start - b.start);
    this.playheads = [];
    this.root.replaceChildren(this.ruler(), this.lanes());
    this.chapterList.replaceChildren(...this.chapterItems());
    this.current = { chapter: -1, turns: "" };
  }

  playhead() {
    const line = h("span", { class: "playhead", "aria-hidden": "true" });
    this.playheads.push(line);
    return line;
  }

  /** The ruler: chapter ticks, start and end times; a click seeks (mouse and touch). */
  ruler() {
    const track = h("div", { class: "ruler-track" },
      this.chapters.map((c) => h("span", {
        class: "tick", style: `left: ${percent(c.offset_seconds, this.duration)}`, title: c.title,
      })),
      this.playhead());
    track.addEventListener("click", (event) => {
      const box = track.getBoundingClientRect();
      const at = ((event.clientX - box.left) / box.width) * this.duration;
      this.onSeek(Math.max(0, Math.min(this.duration, at)), { play: false, what: "" });
    });
    return h("div", { class: "ruler", "aria-hidden": "true" },
      track,
      h("div", { class: "ruler-times" },
        h("span", {}, "0:00"), h("span", {}, clock(this.duration))));
  }

  /** One lane per speaker (in order of first turn); the turns are a single toolbar. */
  lanes() {
    const speakers = [...new Set(this.turns.map((t) => t.user_id))];
    this.turnButtons = this.turns.map((turn, i) => {
      const label = `${turn.user_id} speaks at ${clock(turn.start)}`;
      const button = h("button", {
        type: "button", class: "turn", tabindex: i === 0 ? "0" : "-1",
        "aria-label": label, title: `${label} (until ${clock(turn.end)})`,
        style: `left: ${percent(turn.start, this.duration)}; `
          + `width: ${percent(turn.end - turn.start, this.duration)}; `
          + `--lane: ${COLOURS[speakers.indexOf(turn.user_id) % COLOURS.length]}`,
        onclick: () => {
          this.rove(i);
          this.onSeek(turn.start, { play: false, what: label });
        },
      });
      return button;
    });
    const lanes = speakers.map((userId, n) => h("div", { class: "lane" },
      h("span", { class: "lane-name", id: `lane-${n}` }, userId),
      h("div", { class: "lane-track", role: "group", "aria-labelledby": `lane-${n}` },
        this.turnButtons.filter((_, i) => this.turns[i].user_id === userId),
        this.playhead())));
    const strip = h("div", {
      class: "lanes", role: "toolbar", "aria-label": "Speaker turns",
      "aria-describedby": "turns-hint",
    }, lanes);
    strip.addEventListener("keydown", (event) => this.key(event));
    return h("div", {},
      speakers.length
        ? strip
        : h("p", { class: "empty" }, "Nobody was heard speaking."),
      speakers.length
        ? h("p", { class: "hint", id: "turns-hint" },
          "Each bar is someone speaking; choose one to play from there. "
          + "Arrow keys move between turns.")
        : null);
  }

  chapterItems() {
    const heading = document.getElementById("chapters-title");
    if (heading) heading.hidden = this.chapters.length === 0;
    this.chapterButtons = this.chapters.map((c) => {
      const label = `Chapter: ${c.title} at ${clock(c.offset_seconds)}`;
      return h("button", {
        type: "button", class: "chapter", "aria-label": label,
        onclick: () => this.onSeek(c.offset_seconds, { play: true, what: label }),
      }, h("span", { class: "chapter-title" }, c.title), " ", h("span", { class: "at" }, `at ${clock(c.offset_seconds)}`));
    });
    return this.chapterButtons.map((b) => h("li", {}, b));
  }

  /** Roving focus among the turns: one tab stop, arrows move. */
  rove(i) {
    this.turnButtons.forEach((b, n) => b.setAttribute("tabindex", n === i ? "0" : "-1"));
  }

  key(event) {
    const at = this.turnButtons.indexOf(document.activeElement);
    if (at < 0) return;
    const last = this.turnButtons.length - 1;
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
      Home: 0, End: last }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = Math.max(0, Math.min(last, to));
    this.rove(next);
    this.turnButtons[next].focus();
  }

  /** Mark where the player is (seconds): the playhead, the chapter and turns holding it. */
  show(t) {
    const left = percent(t, this.duration);
    for (const line of this.playheads) line.style.left = left;
    let chapter = -1;
    this.chapters.forEach((c, i) => { if (c.offset_seconds <= t + 0.05) chapter = i; });
    if (chapter !== this.current.chapter) {
      this.chapterButtons.forEach((b, i) => {
        if (i === chapter) b.setAttribute("aria-current", "true");
        else b.removeAttribute("aria-current");
      });
      this.current.chapter = chapter;
    }
    const holding = this.turns.map((turn, i) => (turn.start <= t + 0.05 && t < turn.end ? i : -1))
      .filter((i) => i >= 0);
    const key = holding.join(",");
    if (key !== this.current.turns) {
      this.turnButtons.forEach((b, i) => {
        if (holding.includes(i)) b.setAttribute("aria-current", "true");
        else b.removeAttribute("aria-current");
      });
      // the tab stop follows the playback, unless someone is moving among the turns
      if (holding.length && !this.turnButtons.includes(document.activeElement)) {
        this.rove(holding[0]);
      }
      this.current.turns = key;
    }
  }
}
