/* The HTTP API as the pages call it: JSON in, JSON out, refusals as ApiError.
 *
 * A refusal is RFC 9457 problem+json; its `detail` is a sentence a person can act on, and
 * that sentence is what the pages show (ApiError.message). A 401 means the token is no
 * longer good: it is forgotten, so the page shows the signed-out state.
 */

import { getToken, signOut } from "./auth.js";

export class ApiError extends Error {
  constructor(status, detail, code = null) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

function sentence(status, body) {
  if (body && typeof body.detail === "string" && body.detail) {
    const fields = Array.isArray(body.errors) ? body.errors.map((e) => (e.field ? `${e.field}: ${e.message}.` : e.message)).filter(Boolean) : [];
    return fields.length ? `${body.detail} ${fields.join(" ")}` : body.detail;
  }
  if (status === 0) return "The server cannot be reached. Check your connection and try again.";
  return `The server answered ${status}.`;
}

/** Call the API. `auth`: send the signed-in person's token (when there is one). */
export async function api(method, path, body = undefined, { auth = true } = {}) {
  const headers = {};
  const token = auth ? getToken() : null;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, sentence(0, null));
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && token) signOut();
    throw new ApiError(response.status, sentence(response.status, data), data && data.code);
  }
  return data;
}

export const roomPath = (roomId, rest = "") => `/v1/rooms/${encodeURIComponent(roomId)}${rest}`;
