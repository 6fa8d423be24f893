/* The HLS path: the room's playlist played by hls.js in an <audio> element.
 *
 * hls.js is vendored at build time (`make install` copies it from npm into
 * /static/vendor/) and loaded only when a listener takes this path, so the WebSocket path
 * works even where it was never installed. The segments are 1 s fMP4 (CMAF) of the
 * room's Opus stream whose decode time is seq * 960 at 48 kHz, which is how a position in
 * the <audio> element maps to a seq (`seqAt`): hls.js shifts the media timeline by the
 * first segment's decode time (its initPTS), and reports that shift.
 *
 * The playlist carries the room's tier as `#EXT-X-DATERANGE` tags of CLASS
 * "dev.stoa.tier" with an X-TIER attribute; the latest one says whether the room is still
 * served over HLS (`onTier` is told each playlist reload's value).
 *
 * Captions. The path loads the room's multivariant playlist (`multivariant.m3u8` beside
 * the `index.m3u8` it is given, same token), which adds the room's final captions as a
 * WebVTT subtitles rendition; hls.js's light build has no subtitles, so the full build is
 * vendored. The track is selected although it is not DEFAULT (nothing is shown: cues are
 * not rendered natively), and each cue goes to `onCaption(message)` once, in the shape of
 * the WebSocket's final caption message:
 *   {type: "caption", text, final: true, start, end, speaker_id, segment_id?}
 * with `start`/`end` in seconds from the room's start (the seq clock, seq * 0.020) and
 * `speaker_id` from the cue's voice span (`<v ann>`, else null). A cue is told when the
 * element's play position reaches its start, or at once if it was parsed later than that
 * (captions lag the audio by a few seconds, and a late one goes into a later segment).
 * The same caption in two segments (it spans both) is told once (by its cue id, the
 * caption's `segment_id`).
 */

import { FRAME_SAMPLES, SAMPLE_RATE, SEQ_MOD } from "./listen-protocol.js";

export const HLS_URL = new URL("../vendor/hls.min.mjs", import.meta.url);
export const TIER_CLASS = "dev.stoa.tier";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VOICE = /^<v(?:\.[^\s>]*)?[ \t]+([^>]*)>([\s\S]*?)(?:<\/v>)?$/;
const ENTITIES = { amp: "&", lt: "<", gt: ">", nbsp: "\u00a0", lrm: "\u200e", rlm: "\u200f" };

let hlsModule = null;

async function loadHls() {
  if (!hlsModule) {
    try {
      hlsModule = (await import(HLS_URL.href)).default;
    } catch (e) {
      throw new Error(`hls.js is not installed at ${HLS_URL.pathname} (run make install): ${e}`);
    }
  }
  return hlsModule;
}

/** The latest X-TIER of the playlist's tier date ranges (by START-DATE, then order). */
export function latestTier(dateRanges) {
  let latest = null;
  for (const range of Object.values(dateRanges || {})) {
    if (range.class !== TIER_CLASS || !range.attr || !range.attr["X-TIER"]) continue;
    const later = !latest
      || range.startDate.getTime() > latest.startDate.getTime()
      || (range.startDate.getTime() === latest.startDate.getTime() && range.tagOrder > latest.tagOrder);
    if (later) latest = range;
  }
  return latest ? latest.attr["X-TIER"] : null;
}

/** The multivariant playlist beside a room's audio playlist (`.../index.m3u8?token=...`). */
export function multivariantUrl(url) {
  const base = typeof location !== "undefined" ? location.href : undefined;
  const parsed = new URL(url, base);
  parsed.pathname = parsed.pathname.replace(/\/index\.m3u8$/, "/multivariant.m3u8");
  return parsed.href;
}

function unescapeVtt(text) {
  return text.replace(/&(amp|lt|gt|nbsp|lrm|rlm);/g, (_, name) => ENTITIES[name]);
}

/**
 * A WebVTT cue as the WebSocket's final caption message. `shift` is the seconds between
 * the element's timeline and the room's (hls.js's initPTS, see `seqAt`).
 */
export function captionMessage(cue, shift) {
  const voice = VOICE.exec(cue.text);
  const id = String(cue.id || "").replace(/^hlsjscc\d+_/, "");
  const message = {
    type: "caption",
    text: unescapeVtt(voice ? voice[2] : cue.text),
    final: true,
    start: Math.round((cue.startTime + shift) * 1000) / 1000,
    end: Math.round((cue.endTime + shift) * 1000) / 1000,
    speaker_id: voice ? unescapeVtt(voice[1]).trim() || null : null,
  };
  if (UUID.test(id)) message.segment_id = id;
  return message;
}

export class HlsPath {
  /**
   * @param {import("./frame-player.js").AudioOutput} output
   * @param {string} url the playlist (its token in the query)
   * @param {{onTier?: Function, onFatal?: Function, onEnded?: Function,
   *   onCaption?: Function, log?: Function}} hooks
   */
  constructor(output, url, { onTier = () => {}, onFatal = () => {}, onEnded = () => {},
    onCaption = () => {}, log = () => {} } = {}) {
    this.output = output;
    this.url = url;
    this.hooks = { onTier, onFatal, onEnded, onCaption, log };
    this.cues = new Map(); // parsed, not told yet: id -> VTTCue
    this.toldCues = new Set(); // ids told to onCaption
    this.audio = null;
    this.source = null;
    this.hls = null;
    this.initPts = null;
    this.tier = null;
    this.seeks = 0; // the element jumped (hls.js catching up with live, or playFrom)
    this.closed = false;
  }

  /** Load the playlist; `play` starts at hls.js's live position as soon as it can. */
  async start({ play = true } = {}) {
    const Hls = await loadHls();
    if (!Hls.isSupported()) throw new Error("this browser has no Media Source Extensions");
    this.audio = document.createElement("audio");
    this.audio.preload = "auto";
    this.source = this.output.ctx.createMediaElementSource(this.audio);
    this.source.connect(this.output.input);
    this.audio.addEventListener("ended", () => { if (!this.closed) this.hooks.onEnded(); });
    this.audio.addEventListener("seeking", () => { this.seeks += 1; });
    this.audio.addEventListener("timeupdate", () => this._tellCues());
    const hls = new Hls({
      enableWorker: false,
      liveSyncDurationCount: 2,
      enableDateRangeMetadataCues: false,
      backBufferLength: 10,
      renderTextTracksNatively: false, // cues come as CUES_PARSED, for onCaption
    });
    this.hls = hls;
    hls.on(Hls.Events.INIT_PTS_FOUND, (event, data) => {
      this.initPts = { base: data.initPTS, timescale: data.timescale };
    });
    const levelLoaded = (event, data) => {
      const tier = latestTier(data.details && data.details.dateRanges);
      if (tier) {
        this.tier = tier;
        this.hooks.onTier(tier);
      }
    };
    hls.on(Hls.Events.LEVEL_LOADED, levelLoaded);
    hls.on(Hls.Events.LEVEL_UPDATED, levelLoaded);
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (event, data) => {
      if (data.subtitleTracks.length && hls.subtitleTrack === -1) hls.subtitleTrack = 0;
    });
    hls.on(Hls.Events.CUES_PARSED, (event, data) => {
      if (data.type !== "subtitles") return;
      for (const cue of data.cues) {
        if (!this.toldCues.has(cue.id)) this.cues.set(cue.id, cue);
      }
      this._tellCues();
    });
    hls.on(Hls.Events.ERROR, (event, data) => {
      this.hooks.log(`hls ${data.fatal ? "fatal " : ""}error: ${data.type} ${data.details}`);
      if (data.fatal && !this.closed) this.hooks.onFatal(data);
    });
    if (play) {
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        this.audio.play().catch((e) => this.hooks.log(`hls play: ${e}`));
      });
    }
    hls.attachMedia(this.audio);
    hls.loadSource(multivariantUrl(this.url));
  }

  /** Tell onCaption the parsed cues the play position has reached (or passed). */
  _tellCues() {
    if (!this.initPts || !this.audio || this.closed) return;
    const now = this.audio.currentTime;
    const shift = this.initPts.base / this.initPts.timescale;
    const due = [...this.cues.values()].filter((cue) => cue.startTime <= now)
      .sort((a, b) => a.startTime - b.startTime);
    for (const cue of due) {
      this.cues.delete(cue.id);
      this.toldCues.add(cue.id);
      try {
        this.hooks.onCaption(captionMessage(cue, shift));
      } catch (e) {
        this.hooks.log(`hls onCaption: ${e}`);
      }
    }
  }

  /** The wire seq at the element's play position, once hls.js knows the timeline. */
  seqAt() {
    if (!this.initPts || !this.audio) return null;
    const { base, timescale } = this.initPts;
    const samples = this.audio.currentTime * SAMPLE_RATE + (base * SAMPLE_RATE) / timescale;
    return Math.floor(samples / FRAME_SAMPLES + 1e-6) % SEQ_MOD;
  }

  /** The element time at which wire seq `seq` starts. */
  timeOf(seq) {
    const { base, timescale } = this.initPts;
    return (seq * FRAME_SAMPLES) / SAMPLE_RATE - base / timescale;
  }

  bufferedEnd() {
    const ranges = this.audio ? this.audio.buffered : null;
    return ranges && ranges.length ? ranges.end(ranges.length - 1) : 0;
  }

  get playing() {
    return !!this.audio && !this.audio.paused && this.audio.readyState >= 3;
  }

  /**
   * Play from wire seq `seq` once it is buffered (the WebSocket path is ahead of HLS, so
   * this waits for the segments to catch up). Resolves true when it plays from there.
   */
  async playFrom(seq, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed && performance.now() < deadline) {
      if (this.initPts && this.bufferedEnd() > this.timeOf(seq) + 0.1) {
        this.audio.currentTime = this.timeOf(seq);
        try {
          await this.audio.play();
        } catch (e) {
          this.hooks.log(`hls play: ${e}`);
          return false;
        }
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  }

  stop() {
    this.closed = true;
    if (this.hls) this.hls.destroy();
    if (this.audio) {
      this.audio.pause();
      this.audio.removeAttribute("src");
    }
    if (this.source) this.source.disconnect();
    this.hls = this.audio = this.source = null;
    this.cues.clear();
  }
}
