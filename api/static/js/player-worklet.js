/* The audio thread's half of the WebSocket player: a small jitter buffer of decoded frames.
 *
 * The main thread (frame-player.js) decodes each 20 ms Opus frame with WebCodecs and posts
 * it here as {type: "frame", seq, pcm, rms}. This processor plays them in order:
 *
 * - it starts (and restarts after running dry) only once `target` frames are queued, so a
 *   frame arriving a little late, or a relay's batch of five arriving at once, never stops
 *   the sound; the main thread sets `target` from the batch size the path delivers;
 * - running dry is an underrun: silence until `target` frames are queued again;
 * - holding more than `target + slack` frames (after a reconnect backfilled a burst, or a
 *   stall), it skips quiet frames (rms below `quietRms`, the pauses of speech) until the
 *   queue is back near `target`, so latency returns to normal without cutting words;
 * - every 50 ms it reports what it played to the main thread.
 */

const REPORT_SECONDS = 0.05;

class StoaPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.target = o.targetFrames || 4;
    this.slack = o.slackFrames || 5;
    this.quietRms = o.quietRms || 0.003;
    this.maxFrames = o.maxFrames || 400;
    this.queue = [];
    this.current = null;
    this.position = 0;
    this.playing = false;
    this.stopped = false;
    this.stats = { played: 0, lastPlayed: null, underruns: 0, skipped: 0, dropped: 0 };
    this.reportAt = 0;
    this.port.onmessage = (event) => this.message(event.data);
  }

  message(m) {
    if (m.type === "frame") {
      this.queue.push(m);
      if (this.queue.length > this.maxFrames) {
        this.queue.shift();
        this.stats.dropped += 1;
      }
    } else if (m.type === "target") {
      this.target = Math.max(1, m.frames);
    } else if (m.type === "flush") {
      this.queue = [];
      this.current = null;
      this.playing = false;
    } else if (m.type === "stop") {
      this.stopped = true;
    }
  }

  next() {
    while (this.queue.length) {
      const frame = this.queue.shift();
      if (this.queue.length >= this.target + this.slack && frame.rms < this.quietRms) {
        this.stats.skipped += 1;  // catching up: a quiet frame nobody will miss
        continue;
      }
      return frame;
    }
    return null;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    if (!this.playing && this.queue.length >= this.target) this.playing = true;
    while (this.playing && i < out.length) {
      if (!this.current) {
        this.current = this.next();
        this.position = 0;
        if (!this.current) {
          this.playing = false;
          this.stats.underruns += 1;
          break;
        }
      }
      const pcm = this.current.pcm;
      const n = Math.min(out.length - i, pcm.length - this.position);
      out.set(pcm.subarray(this.position, this.position + n), i);
      i += n;
      this.position += n;
      if (this.position >= pcm.length) {
        this.stats.played += 1;
        this.stats.lastPlayed = this.current.seq;
        this.current = null;
      }
    }
    if (i < out.length) out.fill(0, i);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (currentTime >= this.reportAt) {
      this.reportAt = currentTime + REPORT_SECONDS;
      const queued = this.queue.length + (this.current ? 1 - this.position / this.current.pcm.length : 0);
      this.port.postMessage({ type: "status", ...this.stats, queued, playing: this.playing });
    }
    return !this.stopped;
  }
}

registerProcessor("stoa-player", StoaPlayer);
