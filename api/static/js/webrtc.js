/* WebRTC to the room's media plane: publish the microphone (WHIP), receive the mix (WHEP).
 *
 * Both are RFC 9725-style, non-trickle: the offer is sent once ICE gathering is complete,
 * with the media token from the join answer as Bearer; the answer is 201 with the SDP and
 * a Location to DELETE when done. A refusal is problem+json and becomes an Error whose
 * message is the API's sentence (and whose `status` is the HTTP status).
 */

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 2000);
  });
}

async function negotiate(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/sdp", authorization: `Bearer ${token}` },
      body: pc.localDescription.sdp,
    });
  } catch (e) {
    pc.close();
    throw new Error("The media server cannot be reached.");
  }
  const text = await response.text();
  if (response.status !== 201) {
    pc.close();
    let detail = `The media server answered ${response.status}.`;
    try {
      detail = JSON.parse(text).detail || detail;
    } catch (e) { /* not a problem document */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: text });
  return new URL(response.headers.get("location"), url).href;
}

/**
 * Microphone constraints. Echo cancellation, noise suppression and gain control are on,
 * as a person without headphones needs; `localStorage["stoa.mic"] = "raw"` turns them off
 * (the tests and benchmarks compare what was captured with what the room heard).
 */
export function micConstraints() {
  if (localStorage.getItem("stoa.mic") === "raw") {
    return { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  }
  return { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
}

/** A published microphone: mute it on the client, watch its level, stop it. */
export class Microphone {
  constructor({ onLost = () => {} } = {}) {
    this.onLost = onLost;
    this.pc = null;
    this.stream = null;
    this.location = null;
    this.token = null;
    this.muted = false;
    this.ctx = null;
    this.analyser = null;
    this.stopped = false;
  }

  get track() {
    return this.stream ? this.stream.getAudioTracks()[0] : null;
  }

  async start(whipUrl, token) {
    this.token = token;
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: micConstraints() });
    this.ctx = new AudioContext({ latencyHint: "interactive" });
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.smoothingTimeConstant = 0;
    this.ctx.createMediaStreamSource(this.stream).connect(this.analyser);
    if (this.ctx.state !== "running") this.ctx.resume().catch(() => {});
    this.pc = new RTCPeerConnection();
    this.pc.addTransceiver(this.track, { direction: "sendonly", streams: [this.stream] });
    this.pc.addEventListener("connectionstatechange", () => {
      if (!this.stopped && ["failed", "closed"].includes(this.pc.connectionState)) this.onLost();
    });
    try {
      this.location = await negotiate(this.pc, whipUrl, token);
    } catch (e) {
      this._release();
      throw e;
    }
    return this;
  }

  /** Client-side mute: the track sends silence (which the server drops as such). */
  setMuted(muted) {
    this.muted = muted;
    if (this.track) this.track.enabled = !muted;
  }

  /** RMS of the last ~43 ms the microphone captured (0 while muted). */
  level() {
    if (!this.analyser || this.muted) return 0;
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    return Math.sqrt(sum / samples.length);
  }

  _release() {
    this.stopped = true;
    if (this.pc) this.pc.close();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close();
  }

  /** Stop publishing; `notify` ends the session at the server too (not once it closed it). */
  async stop({ notify = true } = {}) {
    if (this.stopped) return;
    this._release();
    if (this.location && notify) {
      const location = this.location;
      this.location = null;
      await fetch(location, { method: "DELETE", headers: { authorization: `Bearer ${this.token}` } })
        .catch(() => {});
    }
  }
}

/** Receive the room's mix over WHEP; `onTrack(stream)` is called with the remote stream. */
export async function receive(whepUrl, token, { onTrack = () => {}, onLost = () => {} } = {}) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (event) => onTrack(event.streams[0] || new MediaStream([event.track]));
  let closing = false;
  pc.addEventListener("connectionstatechange", () => {
    if (!closing && ["failed", "closed"].includes(pc.connectionState)) onLost();
  });
  const location = await negotiate(pc, whepUrl, token);
  return {
    pc,
    location,
    async stop() {
      closing = true;
      pc.close();
      await fetch(location, { method: "DELETE", headers: { authorization: `Bearer ${token}` } })
        .catch(() => {});
    },
  };
}
