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
 */

import { FRAME_SAMPLES, SAMPLE_RATE, SEQ_MOD } from "./listen-protocol.js";

export const HLS_URL = new URL("../vendor/hls.light.min.mjs", import.meta.url);
export const TIER_CLASS = "dev.stoa.tier";

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

export class HlsPath {
  /**
   * @param {import("./frame-player.js").AudioOutput} output
   * @param {string} url the playlist (its token in the query)
   * @param {{onTier?: Function, onFatal?: Function, onEnded?: Function, log?: Function}} hooks
   */
  constructor(output, url, { onTier = () => {}, onFatal = () => {}, onEnded = () => {},
    log = () => {} } = {}) {
    this.output = output;
    this.url = url;
    this.hooks = { onTier, onFatal, onEnded, log };
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
    const hls = new Hls({
      enableWorker: false,
      liveSyncDurationCount: 2,
      enableDateRangeMetadataCues: false,
      backBufferLength: 10,
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
    hls.loadSource(this.url);
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
  }
}
