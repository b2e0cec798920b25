// Health: the notification and sync outboxes, connected clients, recent refusals; live.
import { get, query } from "../api.js";
import { ago, dl, h, panel, replace, section, table, time } from "../dom.js";

function outbox(name, o) {
  return h("div", { class: "outbox", "data-outbox": name }, h("h3", {}, name),
    dl([["Depth", String(o.depth)], ["Oldest item", o.oldest_at === null ? "—" : `${time(o.oldest_at)} (${ago(o.oldest_at)})`]]),
    table([
      { label: "Failing URI", class: "mono", cell: (f) => f.uri },
      { label: "Last error", cell: (f) => f.last_error ?? "" },
      { label: "Attempts", cell: (f) => String(f.attempts) },
      { label: "Since", cell: (f) => time(f.since) },
    ], o.failing, "Nothing failing."));
}

export function page(view, _params, ctx) {
  const outboxes = panel(async () => {
    const o = await get("/outboxes");
    return h("div", { class: "columns" }, outbox("Notifications", o.notifications), outbox("Enrollment sync", o.sync));
  });
  const connections = panel(async () => {
    const c = await get("/connections");
    return [h("p", { class: "count", id: "open-connections" }, `${c.open} open connection(s)`), table([
      { label: "LFDI", class: "mono", cell: (x) => x.lfdi ?? "—" },
      { label: "Peer", class: "mono", cell: (x) => x.peer },
      { label: "Since", cell: (x) => `${time(x.since)} (${ago(x.since)})` },
      { label: "Requests", cell: (x) => String(x.requests) },
    ], c.clients, "No clients connected.")];
  });
  const refusals = panel(async () => {
    const r = await get(`/refusals${query({ limit: 50 })}`);
    return [h("h3", {}, "By reason"), table([
      { label: "Reason", cell: (x) => x.reason },
      { label: "Kind", cell: (x) => x.kind },
      { label: "Count", cell: (x) => String(x.count) },
      { label: "Last", cell: (x) => `${time(x.last_at)} (${ago(x.last_at)})` },
    ], r.by_reason, "No refusals."), h("h3", {}, "Recent"), table([
      { label: "At", cell: (x) => time(x.at) },
      { label: "Kind", cell: (x) => x.kind },
      { label: "Reason", cell: (x) => x.reason },
      { label: "Status", cell: (x) => (x.status ?? "—") },
      { label: "LFDI", class: "mono", cell: (x) => x.lfdi ?? "—" },
      { label: "Path", class: "mono", cell: (x) => x.path ?? "—" },
    ], r.recent, "No refusals.")];
  });
  replace(view, section("Outboxes", outboxes), section("Connected clients", connections),
    section("Refusals (TLS and 4xx)", refusals));
  ctx.every(2000, () => [outboxes, connections, refusals].forEach((p) => p.refresh()));
}
