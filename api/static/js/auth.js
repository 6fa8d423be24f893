/* Who the person is: a user JWT kept in localStorage, however it was obtained.
 *
 * - Dev auth (`STOA_DEV_AUTH`, on in `stoa up`): the sign-in screen (`/?signin&next=…`)
 *   asks for a user id and gets a token from `POST /v1/auth/dev-token`.
 * - An external issuer: the server's `GET /v1/auth/config` names a `login_url`; signing in
 *   goes there with `return_to=<the page to come back to>` (or fills `{return_to}` in the
 *   URL), and the issuer comes back to that page with `#token=<JWT>`.
 * - Any page given `#token=<JWT>` in its address takes that token as is (the gateway checks
 *   it on every request) and removes it from the address bar at once.
 *
 * The token's claims are read only to show who is signed in (`sub`, the user id; `name`);
 * nothing here checks a signature. A token past its `exp`, or one the API answers 401 to
 * (api.js), is forgotten.
 */

const TOKEN_KEY = "stoa.token";

/** `#token=…` in the address: keep it, then take it out of the address bar and history. */
export function takeFragmentToken() {
  const fragment = location.hash.slice(1);
  if (!fragment.includes("token=")) return false;
  const params = new URLSearchParams(fragment);
  const token = params.get("token");
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  if (!token) return false;
  setToken(token);
  return true;
}

export function getToken() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (token && !currentUserOf(token)) {
    localStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

export function setToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
}

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return null;
  }
}

function currentUserOf(token) {
  const claims = claimsOf(token);
  if (!claims || typeof claims.sub !== "string" || !claims.sub) return null;
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) return null;
  return { id: claims.sub, name: claims.name || claims.preferred_username || claims.sub };
}

/** `{id, name}` of the signed-in person, or null. */
export function currentUser() {
  const token = getToken();
  return token ? currentUserOf(token) : null;
}

let config = null;

/** The server's sign-in settings: `{dev_auth, login_url}`. */
export async function authConfig() {
  if (!config) {
    const response = await fetch("/v1/auth/config");
    config = response.ok ? await response.json() : { dev_auth: false, login_url: null };
  }
  return config;
}

/** Only paths of this site may be returned to after signing in. */
export function safeNext(next) {
  return typeof next === "string" && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/** Where an external issuer's login page is, asked to come back to `next`. */
export function loginRedirect(loginUrl, next) {
  const back = new URL(safeNext(next), location.origin).href;
  if (loginUrl.includes("{return_to}")) {
    return loginUrl.replace("{return_to}", encodeURIComponent(back));
  }
  const url = new URL(loginUrl, location.href);
  url.searchParams.set("return_to", back);
  return url.href;
}

/** Sign in, then come back to `next` (a path of this site). */
export async function startSignIn(next = location.pathname + location.search) {
  const { dev_auth: devAuth, login_url: loginUrl } = await authConfig();
  if (devAuth) {
    location.assign(`/?signin&next=${encodeURIComponent(safeNext(next))}`);
  } else if (loginUrl) {
    location.assign(loginRedirect(loginUrl, next));
  } else {
    throw new Error("This server has no sign-in configured (no dev auth, no login URL).");
  }
}
