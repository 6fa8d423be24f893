/* Listening to a room in the browser: the join answer's preferred path, kept playing.
 *
 *   const listener = new RoomListener(joinAnswer, { rejoin: () => joinAgain() });
 *   await listener.start();            // in a click handler: it creates an AudioContext
 *   listener.state                     // path, url, lastSeq, framesPlayed, gaps, … (live)
 *   listener.stop();
 *
 * WebSocket path (CONTRACT.md's listen protocol): records are taken in seq order, once
 * each, decoded with WebCodecs and played through the jitter buffer of player-worklet.js
 * (frame-player.js). `state.ranges` lists the runs of consecutive seqs taken: one run means
 * nothing was missed.
 *
 * - `moved` (websocket): the new URL is opened with `from=<next seq>` while the old one
 *   keeps playing; as soon as the new one delivers the next seq (or one already played),
 *   it becomes the path and the old one is closed. Nothing is skipped or played twice.
 * - A dropped connection that is not the room's end: reconnect at once, with
 *   `from=<last seq + 1>`, to the join answer's `fallbacks` in order, then the original
 *   URL, then join again (`rejoin`) and follow its answer, retrying with backoff. The
 *   node backfills what it still holds. A hole it cannot fill (it reports a gap, or its
 *   stream simply starts later: a relay that had not carried the room yet) is asked of
 *   another node, the mixing node first (a short "repair" connection from the missing
 *   seq; its ring holds 5 s), and only skipped if nobody brings it within HOLD_MS.
 *   `state.gaps` records every range that was never played (`reported` says whether a
 *   server said so). A connection that delivered frames and then went silent for
 *   STALL_MS counts as dropped too.
 * - The room's end (`room` with status "ended", or a close saying so): stop, with
 *   `state.status = "ended"`. A refusal (a join answering 403/404/409) ends it as well.
 *
 * HLS path (hls-path.js): hls.js plays the playlist in an <audio> element. When the
 * playlist's tier daterange says the room left the hls tier (checked once the listener has
 * been on HLS for HLS_MIN_MS, so a room at a tier boundary does not bounce it), the
 * listener joins again; if the answer prefers the WebSocket, it opens it from the seq HLS
 * is playing and switches once that seq arrives (the node's 5 s ring holds it). A `moved`
 * to HLS waits until the playlist has the next seq buffered, holding the WebSocket's newer
 * frames meanwhile (HLS is a second or so behind: a pause, not a gap), then plays HLS from
 * there; if HLS does not come, it stays on the WebSocket. `state.ranges` counts what HLS
 * played too, so one run across paths means no seq was missed on the way.
 *
 * Both paths end in one AnalyserNode: `state.energy` is the RMS of what was just played.
 */

import { AudioOutput, FramePlayer } from "./frame-player.js";
import { HlsPath } from "./hls-path.js";
import {
  describeUrl, FRAME_MS, parseRecords, parseText, resumeUrl, unwrapSeq, wireSeq,
} from "./listen-protocol.js";

/** How long one connection attempt may take to open before the next URL is tried. */
const OPEN_TIMEOUT_MS = 1000;
/** Pauses between rounds of reconnection (after every URL and a new join failed). */
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 5000];
/** A moved-to WebSocket that has not caught up by then is given up (the old one stays). */
const SWITCH_TIMEOUT_MS = 5000;
/** A missing seq is waited for this long while another open connection may still bring it. */
const HOLD_MS = 1000;
/** A connection that delivered frames and then nothing for this long counts as dropped. */
const STALL_MS = 1500;
/** How long a move to HLS waits for the playlist to hold the next seq. */
const HLS_SWITCH_TIMEOUT_MS = 10000;
/** How long a listener that arrived on HLS stays before following the tier back. */
const HLS_MIN_MS = 3000;
const METER_MS = 50;
const LOG_LINES = 60;

let nextConnectionId = 1;

class Connection {
  constructor(listener, url, role) {
    this.id = nextConnectionId++;
    this.url = url;
    this.role = role; // "connecting" | "active" | "candidate" | "retired"
    this.frames = 0;
    this.lastMessageAt = performance.now();
    this.fromHls = false;
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(this), { once: true });
      this.ws.addEventListener("close", (e) => reject(new Error(`closed (${e.code})`)), { once: true });
    });
    this.opened.catch(() => {});
    this.ws.addEventListener("message", (event) => listener._message(this, event));
    this.ws.addEventListener("close", (event) => listener._closed(this, event));
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(reason = "") {
    this.role = "retired";
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, reason);
  }
}

function within(promise, ms) {
  return Promise.race([
    promise,
    new Promise((resolve, reject) => setTimeout(() => reject(new Error("timed out")), ms)),
  ]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RoomListener {
  /**
   * @param {object} answer the join answer: {token, role, listen: {websocket, hls, whep,
   *   tier, preferred, fallbacks}, room}
   * @param {{rejoin?: () => Promise<object>, jitterMs?: number, onChange?: Function,
   *   onText?: Function}} options
   *   rejoin: joins again and resolves with the new answer (rejects with an Error whose
   *   `status` is the HTTP status when the room refuses).
   *   onText: told every text message of the connections in use (room, activity, tier, …),
   *   parsed, for a page that shows the room.
   */
  constructor(answer, { rejoin = null, jitterMs = 80, onChange = () => {}, onText = () => {} } = {}) {
    this.answer = answer;
    this.rejoinFn = rejoin;
    this.jitterMs = jitterMs;
    this.onChange = onChange;
    this.onText = onText;
    this.output = null;
    this.player = null;
    this.active = null;
    this.candidate = null;
    this.connections = new Set();
    this.hls = null;
    this.lastSeq = null; // unwrapped
    this.pending = new Map(); // unwrapped seq -> {payload, conn}
    this.holdTimer = null;
    this.holding = false; // frames wait in `pending` while HLS takes over
    this.repairing = null; // a connection filling a hole from another node
    this.skipAfterHold = null; // where a reported gap ends, if nobody fills it
    this.origin = null; // the mixing node's base URL (from `tier` messages)
    this.runEnd = null; // unwrapped end of the last run in state.ranges
    this.hlsSince = 0; // when the listener arrived on HLS
    this.hlsSeeks = null; // the HLS element's seek count at the last position read
    this.announced = []; // [from, to] unwrapped, gaps the server reported
    this.recovering = false;
    this.stopped = false;
    this.workletPlayed = 0;
    this.hlsPlayed = 0;
    this.timers = [];
    this.state = {
      status: "idle", // connecting | playing | switching | reconnecting | ended | refused | stopped
      reason: "",
      path: null, // "websocket" | "hls"
      url: null,
      tier: (answer.listen && answer.listen.tier) || null,
      lastSeq: null, // wire seq of the last frame taken (WebSocket) or played (HLS)
      lastPlayedSeq: null,
      framesReceived: 0,
      framesTaken: 0,
      framesPlayed: 0,
      duplicates: 0,
      ranges: [], // [[first, last], …] wire seqs taken, consecutive runs
      gaps: [], // {from, to, frames, reported}: ranges never played
      reportedGaps: [], // {from, to} as the server sent them
      reconnects: 0,
      repairs: 0, // connections opened to another node to fill a hole
      repairedFrames: 0,
      failovers: [], // {from, to, ms, resumeFrom}
      moves: 0,
      switches: [], // {from, to, kind, ms, seq}
      underruns: 0,
      skipped: 0,
      bufferedMs: 0,
      energy: 0,
      energyMax: 0,
      soundMs: 0,
      room: null,
      errors: [],
      log: [],
    };
  }

  // --- lifecycle -------------------------------------------------------------

  async start() {
    this.output = new AudioOutput(); // first, while the click that started us still counts
    this.state.status = "connecting";
    await this.output.resume();
    this.player = new FramePlayer(this.output, {
      jitterMs: this.jitterMs,
      onStatus: (s) => this._playerStatus(s),
      onError: (e) => this._error(`decode: ${e.message || e}`),
    });
    await this.player.start();
    this.timers.push(setInterval(() => this._meter(), METER_MS));
    this.timers.push(setInterval(() => this._watch(), 250));
    if (!await this._follow(this.answer, null)) this._recover(null);
  }

  stop(reason = "stopped by the listener") {
    this._finish("stopped", reason);
    if (this.output) this.output.close();
  }

  _finish(status, reason) {
    if (this.stopped) return;
    this.stopped = true;
    this.state.status = status;
    this.state.reason = reason;
    this._log(`${status}: ${reason}`);
    for (const conn of this.connections) conn.close(status);
    this.connections.clear();
    this.active = this.candidate = null;
    if (this.hls) this.hls.stop();
    this.hls = this.repairing = null;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.holdTimer);
    if (this.player) this.player.close();
    this._changed();
  }

  // --- choosing a path ---------------------------------------------------------

  /** Take the path an answer prefers: HLS, or its WebSocket URLs in order. */
  async _follow(answer, from) {
    const listen = answer.listen || {};
    this.state.tier = listen.tier || this.state.tier;
    if (listen.preferred === "hls" && listen.hls) {
      await this._startHls(listen.hls);
      return true;
    }
    const urls = [listen.websocket, ...(listen.fallbacks || [])].filter(Boolean);
    for (const url of urls) {
      const conn = await this._tryConnect(url, from);
      if (conn) return true;
    }
    return false;
  }

  async _tryConnect(url, from) {
    if (this.stopped) return null;
    this._log(`connect ${describeUrl(url)}${from !== null ? ` from=${wireSeq(from)}` : ""}`);
    const conn = this._open(resumeUrl(url, from), "connecting");
    try {
      await within(conn.opened, OPEN_TIMEOUT_MS);
    } catch (e) {
      this._log(`connect ${describeUrl(url)} failed: ${e.message}`);
      conn.close("gave up");
      this.connections.delete(conn);
      return null;
    }
    if (this.stopped) return null;
    this._activate(conn);
    return conn;
  }

  _open(url, role) {
    const conn = new Connection(this, url, role);
    this.connections.add(conn);
    return conn;
  }

  _activate(conn) {
    const old = this.active;
    conn.role = "active";
    this.active = conn;
    if (old && old !== conn) old.close("replaced");
    this.state.path = "websocket";
    this.state.url = describeUrl(conn.url);
    if (!["ended", "refused", "stopped"].includes(this.state.status)) this.state.status = "playing";
    this._changed();
  }

  // --- WebSocket messages ----------------------------------------------------------

  _message(conn, event) {
    if (conn.role === "retired" || this.stopped) return;
    conn.lastMessageAt = performance.now();
    if (typeof event.data !== "string") {
      let records;
      try {
        records = parseRecords(event.data);
      } catch (e) {
        this._error(`framing: ${e.message}`);
        return;
      }
      if (conn === this.active) this.player.noteMessage(records.length);
      for (const record of records) this._take(conn, record);
      return;
    }
    const message = parseText(event.data);
    if (message.type === "room") {
      this.state.room = message;
      if (message.status === "ended") this._finish("ended", "the room ended");
    } else if (message.type === "tier") {
      this.state.tier = message.tier;
      if (message.origin) this.origin = message.origin;
    } else if (message.type === "moved") {
      if (conn === this.active) this.move(message);
    } else if (message.type === "gap") {
      this._gapMessage(conn, message);
    }
    try {
      this.onText(message);
    } catch (e) { /* a page's display must not break the player */ }
    this._changed();
  }

  /** One record from `conn`: take it in order, once, or keep it until its turn. */
  _take(conn, record) {
    if (conn === this.candidate && conn.fromHls && this.hls) this._followHlsPosition();
    const seq = unwrapSeq(record.seq, this.lastSeq);
    conn.frames += 1;
    this.state.framesReceived += 1;
    if (this.lastSeq !== null && seq <= this.lastSeq) {
      this.state.duplicates += 1;
      if (conn === this.candidate) this._caughtUp(conn);
      return;
    }
    if ((this.lastSeq === null || seq === this.lastSeq + 1) && !this.holding) {
      this._deliver(seq, record.payload, conn);
      if (conn === this.candidate) this._caughtUp(conn);
      this._drain();
      return;
    }
    this.pending.set(seq, { payload: record.payload, conn });
    if (!this.holding) this._missing(conn, null);
  }

  /**
   * The next seq is missing. Another open connection (the old path of a move, a repair)
   * may still bring it: wait up to HOLD_MS. Otherwise ask another node for it (a repair
   * connection to the mixing node, whose ring holds 5 s), and if nobody brings it in
   * time, skip it: the gap is recorded. `skipTo` is where a reported gap ends.
   */
  _missing(conn, skipTo) {
    if (skipTo !== null) this.skipAfterHold = Math.max(this.skipAfterHold || 0, skipTo);
    if (!this._othersOpen(conn) && !this._repair()) {
      this._skipTo(this._skipTarget());
      return;
    }
    if (!this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        if (!this.holding) this._skipTo(this._skipTarget());
        this._endRepair("timed out");
      }, HOLD_MS);
    }
  }

  /** Where a skip goes: the first frame held, or (holding none) past the reported gap. */
  _skipTarget() {
    if (this.pending.size) return Math.min(...this.pending.keys());
    return this.skipAfterHold || Infinity;
  }

  _othersOpen(conn) {
    return [...this.connections].some(
      (c) => c !== conn && c.role !== "retired" && c.ws.readyState <= WebSocket.OPEN,
    );
  }

  /** Open a connection to another node from the next seq, to fill a hole; false if none. */
  _repair() {
    if (this.repairing || !this.active || this.lastSeq === null) return false;
    const current = new URL(this.active.url);
    let url = null;
    if (this.origin) {
      const origin = new URL(this.origin);
      if (origin.host !== current.host) {
        const there = new URL(current.href);
        there.protocol = origin.protocol === "https:" ? "wss:" : "ws:";
        there.host = origin.host;
        url = there.href;
      }
    }
    const listen = this.answer.listen || {};
    for (const other of [...(listen.fallbacks || []), listen.websocket]) {
      if (!url && other && new URL(other).host !== current.host) url = other;
    }
    if (!url) return false;
    this.repairing = this._open(resumeUrl(url, this.lastSeq + 1), "repair");
    this.state.repairs += 1;
    this._log(`repair from ${describeUrl(url)} from=${wireSeq(this.lastSeq + 1)}`);
    return true;
  }

  _endRepair(why) {
    if (!this.repairing) return;
    this._log(`repair ${why}`);
    this.repairing.close(why);
    this.connections.delete(this.repairing);
    this.repairing = null;
  }

  _deliver(seq, payload, conn) {
    this.lastSeq = seq;
    this.player.push(seq, payload);
    this._markRun(seq, seq);
    this.state.lastSeq = wireSeq(seq);
    this.state.framesTaken += 1;
    if (conn && conn === this.repairing) this.state.repairedFrames += 1;
  }

  /** Seqs `from`..`to` were taken: extend the current run, or start a new one. */
  _markRun(from, to) {
    const ranges = this.state.ranges;
    const last = ranges[ranges.length - 1];
    if (last && this.runEnd !== null && from <= this.runEnd + 1 && to > this.runEnd) {
      last[1] = wireSeq(to);
    } else if (!last || this.runEnd === null || from > this.runEnd + 1) {
      ranges.push([wireSeq(from), wireSeq(to)]);
    } else {
      return;
    }
    this.runEnd = to;
  }

  _drain() {
    if (this.holding) return;
    for (const seq of [...this.pending.keys()]) {
      if (this.lastSeq !== null && seq <= this.lastSeq) this.pending.delete(seq);
    }
    while (this.lastSeq !== null && this.pending.has(this.lastSeq + 1)) {
      const seq = this.lastSeq + 1;
      const { payload, conn } = this.pending.get(seq);
      this.pending.delete(seq);
      this._deliver(seq, payload, conn);
      if (conn === this.candidate) this._caughtUp(conn);
    }
    const waitingForReported = this.skipAfterHold && this.lastSeq !== null
      && this.lastSeq + 1 < this.skipAfterHold;
    if (!this.pending.size && !waitingForReported) {
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
      this.skipAfterHold = null;
      this._endRepair("filled the hole");
    }
  }

  /** Give up on the seqs before `seq`: record the gap, then go on from `seq`. */
  _skipTo(seq) {
    if (this.lastSeq === null || !Number.isFinite(seq) || seq <= this.lastSeq + 1) return;
    const from = this.lastSeq + 1;
    const to = seq - 1;
    const reported = this.announced.some(([a, b]) => a <= from && to <= b);
    this.state.gaps.push({ from: wireSeq(from), to: wireSeq(to), frames: to - from + 1, reported });
    this._log(`gap ${wireSeq(from)}..${wireSeq(to)} (${to - from + 1} frames${reported ? ", reported" : ""})`);
    this.lastSeq = to;
    this._drain();
    this._changed();
  }

  /** The node cannot send seqs from..to: another node may, else they are skipped. */
  _gapMessage(conn, message) {
    const from = unwrapSeq(message.from, this.lastSeq ?? message.from);
    const to = unwrapSeq(message.to, from);
    this.state.reportedGaps.push({ from: message.from, to: message.to });
    this.announced.push([from, to]);
    if (this.announced.length > 50) this.announced.shift();
    this._log(`${describeUrl(conn.url)} reports gap ${message.from}..${message.to}`);
    if (this.lastSeq === null || this.holding || from > this.lastSeq + 1 || to <= this.lastSeq) {
      return;
    }
    if (conn === this.repairing) {
      this._endRepair("cannot fill it either");
      this._skipTo(Math.min(to + 1, ...this.pending.keys()));
    } else if (conn === this.active) {
      this._missing(conn, to + 1);
    }
  }

  // --- moving ---------------------------------------------------------------------

  /** Follow a `moved` message ({url, kind, tier}); the node sends it, tests may call it. */
  move(message) {
    if (this.stopped) return;
    this.state.moves += 1;
    if (message.tier) this.state.tier = message.tier;
    this._log(`moved to ${message.kind} ${describeUrl(message.url)}`);
    if (message.kind === "hls") {
      this._moveToHls(message.url);
      return;
    }
    if (this.candidate) this.candidate.close("superseded");
    const from = this.lastSeq !== null ? this.lastSeq + 1 : null;
    const conn = this._open(resumeUrl(message.url, from), "candidate");
    conn.startedAt = performance.now();
    this.candidate = conn;
    this.state.status = "switching";
    setTimeout(() => {
      if (this.candidate === conn) {
        this._log(`moved-to ${describeUrl(conn.url)} did not catch up: staying`);
        this.candidate = null;
        conn.close("too slow");
        this.connections.delete(conn);
        if (this.state.status === "switching") this.state.status = "playing";
      }
    }, SWITCH_TIMEOUT_MS);
    this._changed();
  }

  /** The moved-to connection delivered the next seq (or an older one): it is the path now. */
  _caughtUp(conn) {
    if (this.candidate !== conn) return;
    this.candidate = null;
    const from = this.state.url;
    if (this.hls) {
      this.hls.stop();
      this.hls = null;
    }
    this._activate(conn);
    this.state.switches.push({
      from, to: describeUrl(conn.url), kind: "websocket",
      ms: Math.round(performance.now() - (conn.startedAt || performance.now())),
      seq: this.state.lastSeq,
    });
    this._log(`switched to ${describeUrl(conn.url)} at seq ${this.state.lastSeq}`);
  }

  // --- losing a connection -------------------------------------------------------------

  _closed(conn, event) {
    this.connections.delete(conn);
    if (conn === this.repairing) this.repairing = null;
    if (this.stopped || conn.role === "retired" || conn.role === "connecting") return;
    if (conn === this.candidate) {
      this._log(`moved-to ${describeUrl(conn.url)} closed (${event.code}) before catching up`);
      this.candidate = null;
      if (this.state.status === "switching") this.state.status = "playing";
      return;
    }
    if (conn !== this.active) return;
    this.active = null;
    this._log(`connection closed (${event.code} ${event.reason || ""})`);
    if (event.code === 1000 && /ended/.test(event.reason)) {
      this._finish("ended", "the room ended");
      return;
    }
    if (this.candidate && this.candidate.open) {
      // already opening the next path: it takes over at once
      const next = this.candidate;
      this.candidate = null;
      this._activate(next);
      this.state.failovers.push({ from: describeUrl(conn.url), to: describeUrl(next.url), ms: 0,
        resumeFrom: this.state.lastSeq });
      this._drain();
      return;
    }
    this._recover(conn.url, event.code >= 4000 && event.code < 5000);
  }

  /** Reconnect with `from=<last seq + 1>`: fallbacks, the original URL, then a new join. */
  async _recover(deadUrl, refused = false) {
    if (this.recovering || this.stopped) return;
    this.recovering = true;
    this.state.status = "reconnecting";
    this._changed();
    const started = performance.now();
    const dead = describeUrl(deadUrl || "");
    const listen = this.answer.listen || {};
    let urls = refused ? [] : [...(listen.fallbacks || []), listen.websocket]
      .filter((url) => url && describeUrl(url) !== dead);
    try {
      for (let round = 0; !this.stopped; round += 1) {
        const from = this.lastSeq !== null ? this.lastSeq + 1 : null;
        for (const url of urls) {
          const conn = await this._tryConnect(url, from);
          if (conn) {
            this.state.reconnects += 1;
            const ms = Math.round(performance.now() - started);
            this.state.failovers.push({ from: dead, to: describeUrl(url), ms,
              resumeFrom: from !== null ? wireSeq(from) : null });
            this._log(`resumed on ${describeUrl(url)} after ${ms} ms`);
            return;
          }
        }
        const answer = await this._joinAgain();
        if (this.stopped) return;
        if (answer) {
          this.answer = answer;
          const took = await this._follow(answer, this.lastSeq !== null ? this.lastSeq + 1 : null);
          if (took) {
            this.state.reconnects += 1;
            this.state.failovers.push({ from: dead, to: this.state.url,
              ms: Math.round(performance.now() - started),
              resumeFrom: this.state.lastSeq });
            return;
          }
          const again = answer.listen || {};
          urls = [again.websocket, ...(again.fallbacks || [])].filter(Boolean);
        }
        await sleep(RETRY_DELAYS_MS[Math.min(round, RETRY_DELAYS_MS.length - 1)]);
      }
    } finally {
      this.recovering = false;
      this._changed();
    }
  }

  async _rejoin() {
    if (!this.rejoinFn) throw new Error("no way to join again");
    this._log("joining again");
    return await this.rejoinFn();
  }

  /** Join again; a refusal ends the listening (the room is over, or not ours to hear). */
  async _joinAgain() {
    try {
      return await this._rejoin();
    } catch (e) {
      if (e.status === 409) this._finish("ended", e.message);
      else if ([401, 403, 404, 410].includes(e.status)) this._finish("refused", e.message);
      else this._log(`join again failed: ${e.message}`);
      return null;
    }
  }

  /** Every 250 ms: a connection that delivered frames and went silent counts as dropped. */
  _watch() {
    const conn = this.active;
    if (!conn || this.stopped || this.recovering || conn.frames === 0 || conn.stalled) return;
    if (performance.now() - conn.lastMessageAt > STALL_MS) {
      conn.stalled = true;
      this._log(`no frames for ${STALL_MS} ms on ${describeUrl(conn.url)}`);
      this.active = null;
      conn.close("stalled");
      this._recover(conn.url);
    }
  }

  // --- HLS -------------------------------------------------------------------------

  _newHls(url) {
    return new HlsPath(this.output, url, {
      onTier: (tier) => this._hlsTier(tier),
      onFatal: (data) => this._hlsFailed(data),
      onEnded: () => this._finish("ended", "the HLS stream ended"),
      onCaption: (message) => this.onText(message), // the WebVTT rendition's finals
      log: (line) => this._log(line),
    });
  }

  async _startHls(url) {
    if (this.hls) this.hls.stop();
    this.hls = this._newHls(url);
    this.hlsSince = performance.now();
    this.hlsSeeks = null;
    this.state.path = "hls";
    this.state.url = describeUrl(url);
    this.state.status = "playing";
    for (const conn of this.connections) conn.close("on hls");
    this.connections.clear();
    this.active = null;
    try {
      await this.hls.start({ play: true });
    } catch (e) {
      this._error(e.message);
      this._finish("stopped", e.message);
    }
    this._changed();
  }

  async _moveToHls(url) {
    if (this.hls || this.holding) return;
    const hls = this._newHls(url);
    this.hls = hls;
    const started = performance.now();
    let ok = false;
    try {
      await hls.start({ play: false });
      this.holding = true; // newer frames wait in `pending`: HLS plays them instead
      const next = this.lastSeq !== null ? this.lastSeq + 1 : null;
      ok = next !== null && await hls.playFrom(wireSeq(next), HLS_SWITCH_TIMEOUT_MS);
    } catch (e) {
      this._error(`hls: ${e.message}`);
    }
    if (this.stopped || this.hls !== hls) return;
    if (!ok) {
      this._log("HLS did not start in time: staying on the WebSocket");
      hls.stop();
      this.hls = null;
      this.holding = false;
      this._drain();
      this._changed();
      return;
    }
    this.holding = false;
    this.pending.clear();
    this.hlsSince = performance.now();
    this.hlsSeeks = null;
    const from = this.state.url;
    for (const conn of this.connections) conn.close("moved to hls");
    this.connections.clear();
    this.active = this.candidate = null;
    this.state.path = "hls";
    this.state.url = describeUrl(url);
    this.state.status = "playing";
    this.state.switches.push({ from, to: this.state.url, kind: "hls",
      ms: Math.round(performance.now() - started), seq: this.state.lastSeq });
    this._log(`playing HLS from seq ${wireSeq(this.lastSeq + 1)} after `
      + `${Math.round(performance.now() - started)} ms`);
    this._changed();
  }

  /**
   * While on HLS: the seq it plays is the last seq played. Playing on from where the
   * previous path stopped continues its run in `state.ranges`; a jump (hls.js seeking to
   * catch up with live) starts a new run, and a jump forward is a gap.
   */
  _followHlsPosition() {
    if (!this.hls || this.state.path !== "hls") return;
    const wire = this.hls.seqAt();
    if (wire === null || !this.hls.playing) return;
    const seq = unwrapSeq(wire, this.lastSeq);
    const first = this.hlsSeeks === null;
    const jumped = !first && this.hls.seeks !== this.hlsSeeks;
    this.hlsSeeks = this.hls.seeks;
    if (this.lastSeq !== null && seq > this.lastSeq) {
      this.hlsPlayed += Math.min(seq - this.lastSeq, 50);
      this.state.framesPlayed = this.workletPlayed + this.hlsPlayed;
    }
    const continues = this.lastSeq !== null && seq >= this.lastSeq
      && seq <= this.lastSeq + (first ? 10 : 50) && !jumped;
    if (continues) {
      this._markRun(this.lastSeq + 1, seq);
    } else if (this.lastSeq === null || seq !== this.lastSeq) {
      if (this.lastSeq !== null && seq > this.lastSeq + 1) {
        this.state.gaps.push({ from: wireSeq(this.lastSeq + 1), to: wireSeq(seq - 1),
          frames: seq - this.lastSeq - 1, reported: false });
        this._log(`HLS jumped ahead ${seq - this.lastSeq - 1} frames`);
      }
      this.runEnd = null;
      this._markRun(seq, seq);
    }
    this.lastSeq = seq;
    this.state.lastSeq = this.state.lastPlayedSeq = wireSeq(seq);
  }

  /** While on HLS: once it has played HLS_MIN_MS, follow a tier that is no longer hls. */
  _checkHlsTier() {
    const hls = this.hls;
    if (!hls || this.state.path !== "hls" || !hls.tier || hls.tier === "hls") return;
    if (this.candidate || this.recovering || this.leavingHls || !hls.playing) return;
    const now = performance.now();
    if (now - this.hlsSince < HLS_MIN_MS || now < (this.tierRetryAt || 0)) return;
    this.tierRetryAt = now + 3000;
    this._leaveHls(hls.tier);
  }

  _hlsTier(tier) {
    if (this.state.path === "hls") this.state.tier = tier;
  }

  /** The room left the hls tier: join again and, if told to, go back to the WebSocket. */
  async _leaveHls(tier) {
    this._log(`the playlist says tier ${tier}: joining again`);
    this.leavingHls = true;
    const answer = await this._joinAgain();
    this.leavingHls = false;
    if (!answer) return;
    this.answer = answer;
    const listen = answer.listen || {};
    if (listen.preferred !== "websocket" || !listen.websocket || this.stopped || !this.hls) return;
    this._followHlsPosition();
    const from = this.lastSeq !== null ? this.lastSeq + 1 : null;
    const conn = this._open(resumeUrl(listen.websocket, from), "candidate");
    conn.fromHls = true;
    conn.startedAt = performance.now();
    this.candidate = conn;
    this.player.flush();
    setTimeout(() => {
      if (this.candidate === conn) {
        this._log("the WebSocket did not catch up with HLS: staying on HLS");
        this.candidate = null;
        conn.close("too slow");
      }
    }, SWITCH_TIMEOUT_MS);
  }

  async _hlsFailed(data) {
    this._log(`HLS failed (${data.details}): joining again`);
    if (this.hls) this.hls.stop();
    this.hls = null;
    this.state.path = null;
    await sleep(500);
    this._recover(null);
  }

  // --- state ---------------------------------------------------------------------

  _playerStatus(s) {
    this.workletPlayed = s.played;
    this.state.framesPlayed = this.workletPlayed + this.hlsPlayed;
    if (this.state.path === "websocket" && s.lastPlayed !== null) {
      this.state.lastPlayedSeq = wireSeq(s.lastPlayed);
    }
    this.state.underruns = s.underruns;
    this.state.skipped = s.skipped;
    this.state.bufferedMs = Math.round(s.queued * FRAME_MS);
  }

  _meter() {
    if (!this.output) return;
    if (this.state.path === "hls") {
      this._followHlsPosition();
      this._checkHlsTier();
    }
    const rms = this.output.rms();
    this.state.energy = rms;
    this.state.energyMax = Math.max(this.state.energyMax, rms);
    if (rms > 0.001) this.state.soundMs += METER_MS;
  }

  _error(text) {
    this.state.errors.push(text);
    if (this.state.errors.length > 20) this.state.errors.shift();
    this._log(`error: ${text}`);
  }

  _log(line) {
    const log = this.state.log;
    log.push(`${(performance.now() / 1000).toFixed(2)} ${line}`);
    if (log.length > LOG_LINES) log.shift();
  }

  _changed() {
    try {
      this.onChange(this.state);
    } catch (e) { /* a page's display must not break the player */ }
  }
}
