/* Transcript search on the home page: find the moment a room said something.
 *
 * `GET /v1/search?q=` answers segments that hold every word of the query (whole words, any
 * case), newest rooms first, a page at a time (`next_offset`). Each result names the room,
 * who spoke and when, and shows the words with the query's words marked. Its link goes to
 * the recording at that moment (`/recordings/{id}?t=SECONDS`) when there is one the person
 * may play, else to the room (live now, or its page).
 *
 * Words are split as the server splits them (runs of ASCII letters and digits, and of other
 * non-ASCII characters), so what is marked is what matched.
 */

import { api } from "./api.js";
import { clock } from "./timeline.js";
import { $, h, plural } from "./ui.js";

const PAGE = 10;
const TOKEN = /[0-9A-Za-z\u0080-\uFFFF]+/g;

const search = { q: "", words: [], next: null };

/** Where a result takes the person: the recording at that moment, else the room. */
export function hitUrl(hit) {
  if (hit.recording_id && hit.room_status !== "live") {
    const at = Math.max(0, Math.floor(hit.start * 10) / 10);
    return `/recordings/${encodeURIComponent(hit.recording_id)}?t=${at}`;
  }
  return `/rooms/${encodeURIComponent(hit.room_id)}`;
}

/** The text as nodes, each word of `words` (lower-cased) in a <mark>. */
export function highlighted(text, words) {
  const wanted = new Set(words);
  const nodes = [];
  let at = 0;
  for (const found of text.matchAll(TOKEN)) {
    if (!wanted.has(found[0].toLowerCase())) continue;
    if (found.index > at) nodes.push(text.slice(at, found.index));
    nodes.push(h("mark", {}, found[0]));
    at = found.index + found[0].length;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
}

function hitItem(hit) {
  const where = hit.recording_id && hit.room_status !== "live" ? "in the recording"
    : hit.room_status === "live" ? "live now" : "in the room";
  return h("li", {},
    h("p", { class: "hit-head" },
      h("a", { href: hitUrl(hit) }, hit.room_title),
      " ", h("span", { class: "hint" }, `at ${clock(hit.start)}, ${where}`)),
    h("p", { class: "hit-text" },
      hit.speaker_id ? h("span", { class: "name" }, `${hit.speaker_id}: `) : null,
      ...highlighted(hit.text, search.words)));
}

async function run(more) {
  const button = more ? $("search-more") : $("search-btn");
  const offset = more ? search.next : 0;
  const query = new URLSearchParams({ q: search.q, limit: String(PAGE), offset: String(offset) });
  button.disabled = true;
  let page;
  try {
    page = await api("GET", `/v1/search?${query}`);
  } catch (e) {
    $("search-summary").textContent = e.message;
    $("search-more").hidden = true;
    return;
  } finally {
    button.disabled = false;
  }
  search.words = page.words;
  search.next = page.next_offset;
  const list = $("search-results");
  const items = page.items.map(hitItem);
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  const shown = list.children.length;
  $("search-summary").textContent = shown === 0 ? `Nobody said “${search.q}” yet.`
    : `${plural(shown, "moment")} found${page.next_offset !== null ? " so far" : ""}.`;
  $("search-more").hidden = page.next_offset === null;
}

export function installSearch() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("search-q");
    const q = input.value.trim();
    if (!/[0-9A-Za-z\u0080-\uFFFF]/.test(q)) {
      input.setAttribute("aria-invalid", "true");
      $("search-summary").textContent = "Type a word to search for.";
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    search.q = q;
    run(false);
  });
  $("search-more").addEventListener("click", () => run(true));
}
