/* Hearing a room on the room page: one face over the two ways a person listens.
 *
 * - WsHearing: the audience. RoomListener (listener.js) plays the join answer's preferred
 *   path (the WebSocket, decoded with WebCodecs into an AudioWorklet jitter buffer, or HLS),
 *   follows `moved`, fails over; the WebSocket's text messages (room state, speaker
 *   activity) come to the page through `onText`.
 * - WhepHearing: people on stage. The mix over WebRTC (WHEP, the media token as Bearer),
 *   which the mixing node sends without their own voice while they talk; the room's text
 *   messages come from a RoomFeed: the same listen WebSocket with `audio=0` (texts only).
 *
 * Both end in an AnalyserNode (`meter`) and report `onEnd(status, reason)` once when the
 * room ended ("ended") or refuses them ("refused": removed, or the room is gone).
 */

import { RoomListener } from "./listener.js";
import { receive } from "./webrtc.js";

const METER_MS = 50;

/** RMS and band powers of what is played, from an AnalyserNode with no smoothing. */
export class Meter {
  constructor(ctx, source) {
    this.ctx = ctx;
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.smoothingTimeConstant = 0;
    source.connect(this.analyser);
    this.time = new Float32Array(this.analyser.fftSize);
    this.freq = new Float32Array(this.analyser.frequencyBinCount);
  }

  rms() {
    this.analyser.getFloatTimeDomainData(this.time);
    let sum = 0;
    for (const s of this.time) sum += s * s;
    return Math.sqrt(sum / this.time.length);
  }

  /** Power (linear, summed over bins) in each [low, high) Hz band of the last ~43 ms. */
  bands(ranges) {
    this.analyser.getFloatFrequencyData(this.freq);
    const hz = this.ctx.sampleRate / this.analyser.fftSize;
    return ranges.map(([low, high]) => {
      let power = 0;
      for (let i = Math.ceil(low / hz); i < Math.min(this.freq.length, high / hz); i += 1) {
        if (Number.isFinite(this.freq[i])) power += 10 ** (this.freq[i] / 10);
      }
      return power;
    });
  }
}

function withParam(url, key, value) {
  const parsed = new URL(url, location.href);
  parsed.searchParams.set(key, value);
  return parsed.href;
}

/** Ends a hearing when joining again is refused: 409 the room ended, else refused. */
function endingOf(error) {
  if (error && error.status === 409) return ["ended", error.message];
  if (error && [401, 403, 404, 410].includes(error.status)) return ["refused", error.message];
  return null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The room's text messages without audio: `GET …/listen?token=…&audio=0`. Reconnects by
 * itself (the same URL once, then a new join for a fresh token and URL), follows `moved`,
 * and ends when the room ends or a new join is refused.
 */
export class RoomFeed {
  constructor(answer, { rejoin, onText = () => {}, onEnd = () => {}, onOpen = () => {} }) {
    this.answer = answer;
    this.rejoin = rejoin;
    this.onText = onText;
    this.onEnd = onEnd;
    this.onOpen = onOpen;
    this.ws = null;
    this.stopped = false;
    this.failures = 0;
    this.connected = false;
  }

  start() {
    this._connect(this.answer.listen.websocket);
  }

  _connect(url) {
    if (this.stopped) return;
    const ws = new WebSocket(withParam(url, "audio", "0"));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.failures = 0;
      this.connected = true;
      if (this.stopped) ws.close(1000, "stopped");
      else this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws || typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (message.type === "moved" && message.url) {
        this.ws = null;
        ws.close(1000, "moved");
        this._connect(message.url);
        return;
      }
      this.onText(message);
      if (message.type === "room" && message.status === "ended") this._end("ended", "The room has ended.");
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.connected = false;
      if (this.stopped) return;
      if (/ended/.test(event.reason || "")) {
        this._end("ended", "The room has ended.");
        return;
      }
      this._reconnect(opened ? url : null);
    });
  }

  async _reconnect(sameUrl) {
    this.failures += 1;
    if (sameUrl && this.failures === 1) {
      this._connect(sameUrl);
      return;
    }
    await sleep(Math.min(5000, 250 * 2 ** Math.min(this.failures, 5)));
    if (this.stopped) return;
    try {
      this.answer = await this.rejoin();
    } catch (e) {
      const ending = endingOf(e);
      if (ending) {
        this._end(...ending);
        return;
      }
      this._reconnect(null);
      return;
    }
    this._connect(this.answer.listen.websocket);
  }

  _end(status, reason) {
    if (this.stopped) return;
    this.stop();
    this.onEnd(status, reason);
  }

  stop() {
    this.stopped = true;
    const ws = this.ws;
    this.ws = null;
    this.connected = false;
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000, "stopped");
    // a socket still connecting closes itself when it opens (closing it now logs an error)
  }
}

/** The audience's way: RoomListener on the answer's preferred path. */
export class WsHearing {
  constructor(answer, { rejoin, onText = () => {}, onEnd = () => {}, onChange = () => {} }) {
    this.kind = "websocket";
    this.answer = answer;
    this.rejoin = rejoin;
    this.onText = onText;
    this.onEnd = onEnd;
    this.onChange = onChange;
    this.listener = null;
    this.meter = null;
    this.ended = false;
    this.reconnects = 0;
  }

  async start() {
    this.listener = new RoomListener(this.answer, {
      rejoin: this.rejoin,
      onText: (message) => this.onText(message),
      onChange: (state) => this._changed(state),
    });
    window.stoaListener = this.listener;
    const starting = this.listener.start();
    this.meter = new Meter(this.listener.output.ctx, this.listener.output.analyser);
    await starting;
  }

  _changed(state) {
    if (state.reconnects !== this.reconnects) {
      this.reconnects = state.reconnects;
      this.onChange({ reconnected: true });
    }
    if (!this.ended && ["ended", "refused"].includes(state.status)) {
      this.ended = true;
      this.onEnd(state.status, state.status === "ended" ? "The room has ended." : state.reason);
    }
    this.onChange({});
  }

  /** Whether room texts arrive by themselves (not on HLS, not while reconnecting). */
  get live() {
    const state = this.listener && this.listener.state;
    return !!state && state.path === "websocket" && ["playing", "switching"].includes(state.status);
  }

  get status() {
    const state = this.listener ? this.listener.state : null;
    if (!state) return "starting";
    if (state.status === "playing" || state.status === "switching") {
      return state.path === "hls" ? "Listening (HLS)" : "Listening";
    }
    if (state.status === "reconnecting") return "Reconnecting…";
    if (state.status === "connecting") return "Connecting…";
    return state.status;
  }

  get energy() {
    return this.listener ? this.listener.state.energy : 0;
  }

  stop() {
    this.ended = true;
    if (this.listener) this.listener.stop(); // window.stoaListener stays, for inspection
  }
}

/** People on stage: the mix over WHEP, the room's texts over a RoomFeed. */
export class WhepHearing {
  constructor(answer, { rejoin, onText = () => {}, onEnd = () => {}, onChange = () => {} }) {
    this.kind = "whep";
    this.answer = answer;
    this.rejoin = rejoin;
    this.onText = onText;
    this.onEnd = onEnd;
    this.onChange = onChange;
    this.ctx = null;
    this.audio = null;
    this.source = null;
    this.session = null;
    this.feed = null;
    this.meter = null;
    this.ended = false;
    this.state = { status: "connecting", energy: 0, energyMax: 0, soundMs: 0, restarts: 0 };
    this.timer = null;
  }

  async start() {
    // The AudioContext first, while the click that started this still counts.
    this.ctx = new AudioContext({ latencyHint: "interactive" });
    this.input = this.ctx.createGain();
    this.meter = new Meter(this.ctx, this.input);
    if (this.ctx.state !== "running") this.ctx.resume().catch(() => {});
    this.audio = document.createElement("audio");
    this.audio.autoplay = true;
    this.timer = setInterval(() => this._measure(), METER_MS);
    this.feed = new RoomFeed(this.answer, {
      rejoin: () => this._rejoin(),
      onText: (message) => this.onText(message),
      onEnd: (status, reason) => this._end(status, reason),
      onOpen: () => this.onChange({ reconnected: true }),
    });
    this.feed.start();
    await this._receive();
  }

  async _rejoin() {
    this.answer = await this.rejoin();
    return this.answer;
  }

  async _receive() {
    this.session = await receive(this.answer.listen.whep, this.answer.token, {
      onTrack: (stream) => this._play(stream),
      onLost: () => this._lost(),
    });
    this.state.status = "playing";
    this.onChange({});
  }

  _play(stream) {
    // Chromium gives WebAudio a remote WebRTC stream only while a media element plays it.
    this.audio.srcObject = stream;
    this.audio.play().catch(() => {});
    if (this.source) this.source.disconnect();
    this.source = this.ctx.createMediaStreamSource(stream);
    this.source.connect(this.input);
  }

  /** The WebRTC session failed or was closed: join again (a refusal ends it), receive again. */
  async _lost() {
    if (this.ended) return;
    this.state.status = "reconnecting";
    this.onChange({});
    for (let attempt = 0; !this.ended; attempt += 1) {
      await sleep(Math.min(5000, 300 * 2 ** attempt));
      if (this.ended) return;
      try {
        await this._rejoin();
        if (this.ended) return;
        await this._receive();
        this.state.restarts += 1;
        return;
      } catch (e) {
        const ending = endingOf(e);
        if (ending) {
          this._end(...ending);
          return;
        }
      }
    }
  }

  _measure() {
    const rms = this.meter.rms();
    this.state.energy = rms;
    this.state.energyMax = Math.max(this.state.energyMax, rms);
    if (rms > 0.001) this.state.soundMs += METER_MS;
  }

  _end(status, reason) {
    if (this.ended) return;
    this.stop({ notify: false });
    this.onEnd(status, reason);
  }

  get live() {
    return !!this.feed && this.feed.connected;
  }

  get status() {
    return this.state.status === "playing" ? "Listening (on stage)" : "Reconnecting…";
  }

  get energy() {
    return this.state.energy;
  }

  /** Stop; `notify` ends the WebRTC session at the server too (not needed once it ended). */
  stop({ notify = true } = {}) {
    this.ended = true;
    this.state.status = "stopped";
    clearInterval(this.timer);
    if (this.feed) this.feed.stop();
    if (this.session) {
      if (notify) this.session.stop();
      else this.session.pc.close();
    }
    if (this.audio) {
      this.audio.pause();
      this.audio.srcObject = null;
    }
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close();
  }
}
