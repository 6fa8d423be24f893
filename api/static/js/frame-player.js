/* Sound out of the browser: one AudioContext per listener, and the WebSocket path's player.
 *
 * AudioOutput is the end of every path: whatever plays (the WebSocket path's worklet, or
 * the HLS path's <audio> element) goes through one AnalyserNode to the speakers, and the
 * analyser's RMS is what `state.energy` reports: proof that sound is actually played.
 *
 * FramePlayer is the WebSocket path's audio: each Opus record is decoded with WebCodecs
 * (AudioDecoder, codec "opus", 48 kHz mono) and the PCM goes to the jitter buffer in
 * player-worklet.js, which plays it. Records must be pushed in seq order, once each
 * (listener.js takes care of order, duplicates and gaps).
 */

import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE } from "./listen-protocol.js";

const WORKLET_URL = new URL("./player-worklet.js", import.meta.url);

export class AudioOutput {
  constructor() {
    this.ctx = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.connect(this.ctx.destination);
    this.samples = new Float32Array(this.analyser.fftSize);
  }

  /** Where a path connects its audio. */
  get input() {
    return this.analyser;
  }

  async resume() {
    if (this.ctx.state !== "running") await this.ctx.resume();
  }

  /** RMS of the last ~43 ms that went to the speakers. */
  rms() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    return Math.sqrt(sum / this.samples.length);
  }

  async close() {
    if (this.ctx.state !== "closed") await this.ctx.close();
  }
}

function frameRms(pcm) {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

export class FramePlayer {
  /**
   * @param {AudioOutput} output
   * @param {{jitterMs?: number, onStatus?: Function, onError?: Function}} options
   *   jitterMs: audio held before playing starts, beyond what one message carries.
   */
  constructor(output, { jitterMs = 80, onStatus = () => {}, onError = () => {} } = {}) {
    this.output = output;
    this.jitterFrames = Math.max(1, Math.round(jitterMs / FRAME_MS));
    this.onStatus = onStatus;
    this.onError = onError;
    this.node = null;
    this.decoder = null;
    this.batch = 1;
    this.sizes = [];
    this.decodeErrors = 0;
  }

  async start() {
    await this.output.ctx.audioWorklet.addModule(WORKLET_URL);
    this.node = new AudioWorkletNode(this.output.ctx, "stoa-player", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetFrames: this.jitterFrames },
    });
    this.node.port.onmessage = (event) => this.onStatus(event.data);
    this.node.connect(this.output.input);
  }

  get targetFrames() {
    return this.jitterFrames + this.batch - 1;
  }

  _decoder() {
    if (this.decoder && this.decoder.state === "configured") return this.decoder;
    this.decoder = new AudioDecoder({
      output: (data) => this._decoded(data),
      error: (error) => {
        this.decodeErrors += 1;
        this.onError(error);
      },
    });
    this.decoder.configure({ codec: "opus", sampleRate: SAMPLE_RATE, numberOfChannels: 1 });
    return this.decoder;
  }

  /** One Opus packet of unwrapped seq `seq`, in order. */
  push(seq, payload) {
    this._decoder().decode(new EncodedAudioChunk({
      type: "key", timestamp: seq * FRAME_MS * 1000, duration: FRAME_MS * 1000, data: payload,
    }));
  }

  _decoded(data) {
    const seq = Math.round(data.timestamp / (FRAME_MS * 1000));
    const pcm = new Float32Array(data.numberOfFrames || FRAME_SAMPLES);
    data.copyTo(pcm, { planeIndex: 0, format: "f32-planar" });
    data.close();
    if (this.node) {
      this.node.port.postMessage({ type: "frame", seq, pcm, rms: frameRms(pcm) }, [pcm.buffer]);
    }
  }

  /**
   * A message of `records` frames arrived. The jitter buffer holds one message's worth on
   * top of `jitterMs`, so a relay that sends five frames at a time (100 ms) does not run
   * it dry between messages. The size is the most common one of the last 25 messages, so
   * the bursts of a backfill after a reconnect do not count.
   */
  noteMessage(records) {
    this.sizes.push(records);
    if (this.sizes.length > 25) this.sizes.shift();
    const counts = new Map();
    for (const size of this.sizes) counts.set(size, (counts.get(size) || 0) + 1);
    let common = 1;
    let best = 0;
    for (const [size, count] of counts) {
      if (count > best || (count === best && size > common)) [common, best] = [size, count];
    }
    if (common !== this.batch) {
      this.batch = common;
      if (this.node) this.node.port.postMessage({ type: "target", frames: this.targetFrames });
    }
  }

  /** Forget what is queued (a new stream starts that does not continue this one). */
  flush() {
    if (this.node) this.node.port.postMessage({ type: "flush" });
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.decoder = null;
  }

  close() {
    if (this.node) {
      this.node.port.postMessage({ type: "stop" });
      this.node.disconnect();
      this.node = null;
    }
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
  }
}
