/* Live captions on the room page: what the speech-to-text workers hear, as it is said.
 *
 * The listen connection's text messages (CONTRACT.md) carry `caption` messages, partial
 * (the sentence so far, replaced by the next) and final (never revised), and `captions`
 * health messages. HLS listeners get the same finals from the playlist's WebVTT rendition
 * (hls-path.js's onCaption). Captions show the last few finals and the partial after them,
 * each with who said it; "Captions unavailable" replaces silence when no worker
 * transcribes the room, and "catching up" when the worker is behind.
 *
 * Captions are on by default (a room with captions is one more people can follow); the
 * toggle is the listener's choice and is remembered on this device.
 */

const KEEP_FINALS = 3;
const STORE_KEY = "stoa.captions";

const HEALTH_TEXT = {
  live: "",
  behind: "Captions are catching up…",
  failed: "Captions hit a problem and are restarting…",
  unavailable: "Captions unavailable",
};

export class Captions {
  /**
   * @param {HTMLElement} section the captions card (shown while listening)
   * @param {{nameOf?: Function}} options nameOf(userId) → display name
   */
  constructor(section, { nameOf = (id) => id } = {}) {
    this.section = section;
    this.lines = section.querySelector("#captions-lines");
    this.status = section.querySelector("#captions-status");
    this.toggle = section.querySelector("#captions-toggle");
    this.nameOf = nameOf;
    this.finals = [];
    this.partial = null;
    this.health = null;
    this.seen = new Set(); // segment ids (a caption may come over the WebSocket and from HLS)
    this.on = localStorage.getItem(STORE_KEY) !== "off";
    this.toggle.addEventListener("click", () => this.setOn(!this.on));
    this.render();
  }

  setOn(on) {
    this.on = on;
    localStorage.setItem(STORE_KEY, on ? "on" : "off");
    this.render();
  }

  /** A `caption` or `captions` message; anything else is ignored. */
  take(message) {
    if (message.type === "captions") {
      this.health = message.status;
    } else if (message.type === "caption" && typeof message.text === "string") {
      if (message.final) {
        const key = message.segment_id || `${message.start}:${message.text}`;
        if (this.seen.has(key)) return;
        this.seen.add(key);
        this.finals.push(message);
        this.finals = this.finals.slice(-KEEP_FINALS);
        this.partial = null;
      } else {
        this.partial = message;
      }
      if (this.health === "unavailable" || this.health === null) this.health = "live";
    } else {
      return;
    }
    this.render();
  }

  /** Listening stopped: captions of that session go away. */
  clear() {
    this.finals = [];
    this.partial = null;
    this.health = null;
    this.render();
  }

  _line(caption) {
    const li = document.createElement("li");
    li.className = caption.final ? "caption" : "caption partial";
    if (caption.speaker_id) {
      const who = document.createElement("span");
      who.className = "caption-speaker";
      who.textContent = `${this.nameOf(caption.speaker_id)}: `;
      li.append(who);
    }
    li.append(document.createTextNode(caption.text));
    return li;
  }

  render() {
    this.toggle.setAttribute("aria-pressed", String(this.on));
    this.toggle.textContent = this.on ? "Hide captions" : "Show captions";
    this.lines.hidden = !this.on;
    this.status.hidden = !this.on;
    const shown = [...this.finals, ...(this.partial ? [this.partial] : [])];
    this.lines.replaceChildren(...shown.map((c) => this._line(c)));
    const said = HEALTH_TEXT[this.health] ?? "";
    this.status.textContent = said || (shown.length ? "" : "Captions appear here when someone speaks.");
    this.section.dataset.health = this.health || "";
  }
}
