/* The WebSocket listen protocol (CONTRACT.md; media/listen.py on the server), for browsers.
 *
 * A binary message carries one or more records: kind (1 byte, 1 = Opus), seq (4 bytes
 * big-endian, wraps at 2**32), capture time in µs (8 bytes big-endian), payload length
 * (2 bytes big-endian), then one 20 ms Opus packet (48 kHz mono). Text messages are JSON
 * with a `type`: room, moved, tier, gap.
 *
 * Seqs wrap at 2**32. The player keeps them unwrapped (plain numbers that keep counting
 * past the wrap, exact up to 2**53) and turns them back into wire values only for URLs
 * and for display; `unwrapSeq` and `wireSeq` are the one place that arithmetic lives.
 */

export const KIND_OPUS = 1;
export const HEADER_BYTES = 15;
export const SEQ_MOD = 2 ** 32;
export const FRAME_MS = 20;
export const SAMPLE_RATE = 48000;
export const FRAME_SAMPLES = 960;

export class FramingError extends Error {}

/** Every Opus record of one binary message: [{seq (wire), captureUs, payload}]. */
export function parseRecords(buffer) {
  const view = new DataView(buffer);
  const records = [];
  let offset = 0;
  while (offset < buffer.byteLength) {
    if (buffer.byteLength - offset < HEADER_BYTES) {
      throw new FramingError(`${buffer.byteLength - offset} trailing bytes are shorter than a header`);
    }
    const kind = view.getUint8(offset);
    const seq = view.getUint32(offset + 1);
    const captureUs = Number(view.getBigUint64(offset + 5));
    const length = view.getUint16(offset + 13);
    offset += HEADER_BYTES;
    if (buffer.byteLength - offset < length) {
      throw new FramingError(`record says ${length} bytes, ${buffer.byteLength - offset} remain`);
    }
    if (kind === KIND_OPUS) {
      records.push({ seq, captureUs, payload: new Uint8Array(buffer, offset, length) });
    }
    offset += length;
  }
  return records;
}

/** The unwrapped seq nearest to `reference` whose wire value is `wire`. */
export function unwrapSeq(wire, reference) {
  if (reference === null || reference === undefined) return wire;
  const base = reference - wireSeq(reference);
  let value = base + wire;
  if (value - reference > SEQ_MOD / 2) value -= SEQ_MOD;
  else if (reference - value > SEQ_MOD / 2) value += SEQ_MOD;
  return value;
}

/** An unwrapped seq as it travels on the wire (0 … 2**32 - 1). */
export function wireSeq(seq) {
  return ((seq % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
}

/** `url` asking to resume from unwrapped seq `from` (`&from=` on the wire), or as is. */
export function resumeUrl(url, from) {
  const resumed = new URL(url, location.href);
  if (from === null || from === undefined) resumed.searchParams.delete("from");
  else resumed.searchParams.set("from", String(wireSeq(from)));
  return resumed.href;
}

/** A text message as an object with a `type` ("" when it is not one). */
export function parseText(text) {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && typeof value.type === "string") return value;
  } catch (e) { /* not JSON */ }
  return { type: "" };
}

/** Where a listen URL points, without its token: for logs and the page. */
export function describeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch (e) {
    return String(url);
  }
}
