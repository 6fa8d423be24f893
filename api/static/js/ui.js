/* Small DOM helpers the pages share: building elements, the two live regions, the account bar.
 *
 * Every page has two message regions:
 * - `#alert` (role=alert): a refusal, with the API's own sentence; it stays until the next
 *   action succeeds or fails;
 * - `#notice` (role=status, polite): what changed for the person (a hand approved, someone
 *   joining or leaving the stage, a mute, the room's end).
 */

import { currentUser, signOut, startSignIn } from "./auth.js";

export const $ = (id) => document.getElementById(id);

/** `h("button", {class: "small", onclick: f}, "Mute")`: an element; `null` children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Show a refusal (or clear it with ""). */
export function showError(text) {
  const region = $("alert");
  if (region) region.textContent = text || "";
}

let noticeTimer = null;

/** Tell the person what changed (polite live region); it fades after a while. */
export function announce(text) {
  const region = $("notice");
  if (!region) return;
  // Setting the same text twice would not be announced again: clear, then set.
  region.textContent = "";
  clearTimeout(noticeTimer);
  setTimeout(() => {
    region.textContent = text;
  }, 30);
  noticeTimer = setTimeout(() => {
    region.textContent = "";
  }, 15000);
}

/**
 * Run an action behind a button: the button is disabled meanwhile, a refusal shows the
 * API's sentence in #alert, a success clears it. Resolves with the action's result or null.
 */
export async function act(button, action) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    showError("");
    return result;
  } catch (e) {
    showError(e.message || String(e));
    return null;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

/**
 * A destructive button asks once more: the first press changes its label to `confirmLabel`
 * for a few seconds, the second runs `action`.
 */
export function confirming(button, confirmLabel, action) {
  const label = button.textContent;
  const name = button.getAttribute("aria-label");
  const who = button.dataset.who;
  const show = (text) => {
    button.textContent = text;
    if (name) button.setAttribute("aria-label", text === label ? name : `${text}: ${who}`);
  };
  let armed = null;
  button.addEventListener("click", async () => {
    if (!armed) {
      show(confirmLabel);
      armed = setTimeout(() => {
        armed = null;
        show(label);
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    show(label);
    await act(button, action);
  });
}

/** The account bar: who is signed in, with sign-in and sign-out buttons. */
export function renderAccount(onSignOut = () => location.reload()) {
  const bar = $("account");
  if (!bar) return;
  const user = currentUser();
  bar.replaceChildren();
  if (user) {
    bar.append(
      h("span", { id: "whoami" }, "Signed in as ", h("strong", {}, user.id)),
      h("button", {
        type: "button", id: "signout-btn", class: "small",
        onclick: () => { signOut(); onSignOut(); },
      }, "Sign out"),
    );
  } else {
    bar.append(h("button", {
      type: "button", id: "signin-btn", class: "small primary",
      onclick: () => startSignIn().catch((e) => showError(e.message)),
    }, "Sign in"));
  }
}

/** "in 5 min", "in 2 h", "tomorrow 14:00", for scheduled rooms. */
export function whenText(iso) {
  const at = new Date(iso);
  const minutes = Math.round((at.getTime() - Date.now()) / 60000);
  const clock = at.toLocaleString(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
  if (minutes <= 0) return `${clock} (due now)`;
  if (minutes < 60) return `${clock} (in ${minutes} min)`;
  if (minutes < 48 * 60) return `${clock} (in ${Math.round(minutes / 60)} h)`;
  return clock;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
