// The console's shell: sign-in, hash routing, polling while a view is shown, and the confirmation dialog.
import { get, token } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import * as devices from "./views/devices.js";
import * as programs from "./views/programs.js";
import * as events from "./views/events.js";
import * as tasks from "./views/tasks.js";
import * as health from "./views/health.js";

const ROUTES = [
  [/^#\/devices$/, devices.search, "devices"],
  [/^#\/devices\/(\d+)$/, devices.page, "devices"],
  [/^#\/programs$/, programs.page, "programs"],
  [/^#\/events$/, events.list, "events"],
  [/^#\/events\/(control|utility)\/(\d+)$/, events.detail, "events"],
  [/^#\/tasks$/, tasks.page, "tasks"],
  [/^#\/health$/, health.page, "health"],
];

const $ = (id) => document.getElementById(id);
let pollers = [];

function stopPolling() {
  pollers.forEach(clearInterval);
  pollers = [];
}

// Each view gets a context: every(ms, fn) polls while the view is shown and the tab visible; confirm() asks.
function context() {
  return {
    every(ms, fn) {
      pollers.push(setInterval(() => {
        if (!document.hidden) fn();
      }, ms));
    },
    confirm,
    go(hash) {
      location.hash = hash;
    },
  };
}

export function confirm(message, { title = "Confirm", reason = false, reasonRequired = false, action = "Confirm" } = {}) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-message").textContent = message;
  $("confirm-ok").textContent = action;
  const box = $("confirm-reason");
  box.value = "";
  box.hidden = !reason;
  box.required = reasonRequired;
  $("confirm-reason-label").hidden = !reason;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve({ ok: dialog.returnValue === "ok", reason: box.value.trim() }),
      { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function showLogin(errors) {
  stopPolling();
  $("nav").hidden = true;
  $("logout").hidden = true;
  replace($("view"));
  $("login").hidden = false;
  const box = $("login-error");
  box.hidden = !errors;
  if (errors) replace(box, errorBox({ errors }));
  $("token").focus();
}

function route() {
  stopPolling();
  if (!token.get()) return showLogin();
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    location.replace("#/devices");
    return;
  }
  const view = $("view");
  for (const [pattern, render, sectionName] of ROUTES) {
    const match = location.hash.match(pattern);
    if (!match) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.section === sectionName);
    replace(view);
    render(view, match.slice(1), context());
    return;
  }
  replace(view, h("section", { class: "card" }, h("h1", {}, "Not found"),
    h("p", {}, "Nothing in the console at this address. "), h("a", { href: "#/devices" }, "Devices")));
}

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  token.set(value);
  try {
    await get("/openapi.json");  // any call proves the token
  } catch (err) {
    token.clear();
    return showLogin(err.errors);
  }
  $("token").value = "";
  route();
}

window.addEventListener("console:unauthorised", (e) => {
  token.clear();
  showLogin(e.detail);
});
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => {
    token.clear();
    showLogin();
  });
  route();
});
