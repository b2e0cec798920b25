// Devices: search, and one device's page (its 2030.5 tree, DER documents, telemetry, responses, subscriptions,
// enrollments).
import { get, query } from "../api.js";
import { legend, lineChart } from "../chart.js";
import { ago, dl, errorBox, h, json, link, panel, prettyXml, replace, section, table, time } from "../dom.js";

const FIELDS = [["", "any field"], ["lfdi", "LFDI"], ["sfdi", "SFDI"], ["customer", "customer"],
  ["service-point", "service point"], ["feeder", "feeder"]];
const LAST_SEARCH = "der-gateway.device-search";

function summaryColumns() {
  return [
    { label: "EndDevice", cell: (d) => link(`#/devices/${d.end_device_id}`, String(d.end_device_id)) },
    { label: "LFDI", class: "mono", cell: (d) => link(`#/devices/${d.end_device_id}`, d.lfdi) },
    { label: "SFDI", class: "mono", cell: (d) => String(d.sfdi) },
    { label: "Customer", cell: (d) => (d.customer ? d.customer.name : "—") },
    { label: "Service point", cell: (d) => (d.service_point ? d.service_point.name : "—") },
    { label: "Feeder", cell: (d) => d.feeder ?? "—" },
    { label: "Last contact", cell: (d) => ago(d.last_contact) },
    { label: "Enabled", cell: (d) => (d.enabled ? "yes" : "no") },
  ];
}

export function search(view) {
  const saved = JSON.parse(sessionStorage.getItem(LAST_SEARCH) || "{}");
  const q = h("input", { id: "device-q", type: "search", placeholder: "LFDI, SFDI, customer, service point or feeder",
    value: saved.q || "", "aria-label": "search text" });
  const by = h("select", { id: "device-by", "aria-label": "search by" },
    FIELDS.map(([value, label]) => h("option", { value }, label)));
  by.value = saved.by || "";
  const results = h("div", { id: "device-results" });
  const run = async (event) => {
    if (event) event.preventDefault();
    sessionStorage.setItem(LAST_SEARCH, JSON.stringify({ q: q.value, by: by.value }));
    replace(results, h("p", { class: "loading" }, "Searching…"));
    try {
      const answer = await get(`/devices/search${query({ q: q.value.trim(), by: by.value, limit: 100 })}`);
      replace(results, h("p", { class: "count" }, `${answer.items.length} device(s)`),
        table(summaryColumns(), answer.items, "No device matches."));
    } catch (err) {
      replace(results, errorBox(err));
    }
  };
  replace(view, section("Devices",
    h("form", { class: "inline", onsubmit: run }, q, by, h("button", { type: "submit" }, "Search")), results));
  if (saved.q) run();
}

function treeView(id) {
  const viewer = h("div", { class: "xml-viewer", id: "xml-viewer" },
    h("p", { class: "empty" }, "Choose a resource to see its XML."));
  const show = (resource) => replace(viewer,
    h("h3", {}, resource.href, " ", h("span", { class: "tag" }, resource.type), " ",
      h("span", { class: resource.status < 300 ? "tag ok" : "tag bad" }, String(resource.status))),
    h("pre", { class: "xml" }, prettyXml(resource.xml)));
  const body = panel(async () => {
    const tree = await get(`/end-devices/${id}/tree`);
    const rows = tree.resources.map((r) => h("li", { class: `depth${Math.min(r.depth, 8)}` },
      h("button", { type: "button", class: "linklike", "data-href": r.href, onclick: () => show(r) }, r.href),
      " ", h("span", { class: "tag" }, r.type),
      r.status >= 300 ? h("span", { class: "tag bad" }, String(r.status)) : null));
    return [h("p", { class: "count" }, `As the client ${tree.lfdi} sees it: ${tree.resources.length} resources.`),
      h("div", { class: "split" }, h("ul", { class: "tree", id: "tree" }, rows), viewer)];
  });
  return section("2030.5 tree", body);
}

function derView(id) {
  return section("DER documents", panel(async () => {
    const ders = await get(`/end-devices/${id}/ders`);
    if (!ders.items.length) return h("p", { class: "empty" }, "No DER.");
    return ders.items.map((der) => h("div", { class: "der" }, h("h3", {}, der.href),
      Object.entries(der.documents).map(([name, doc]) => h("details", {},
        h("summary", {}, name, doc === null ? " (not posted)" : ""), doc === null ? null : json(doc)))));
  }));
}

// 2030.5 UomType
const UNITS = { 5: "A", 29: "V", 33: "Hz", 38: "W", 61: "VA", 63: "var", 65: "cos \u03b8", 72: "Wh", 73: "varh" };
const unitOf = (uom) => (uom === null ? "no unit" : UNITS[uom] || `uom ${uom}`);

function telemetryView(id) {
  return section("Telemetry (last 24 h)", panel(async () => {
    const answer = await get(`/end-devices/${id}/telemetry`);
    if (!answer.series.length) return h("p", { class: "empty" }, "No readings in this window.");
    const byUnit = new Map();  // one chart per unit, real power first
    for (const x of [...answer.series].sort((a, b) => (a.uom === 38 ? -1 : 0) - (b.uom === 38 ? -1 : 0))) {
      const unit = unitOf(x.uom);
      if (!byUnit.has(unit)) byUnit.set(unit, []);
      byUnit.get(unit).push({ name: x.description || x.mup, points: x.points });
    }
    return [...byUnit].map(([unit, series]) => h("div", { class: "telemetry", "data-unit": unit },
      h("h3", {}, unit), lineChart(series, { title: `telemetry in ${unit}` }), legend(series)));
  }));
}

function responsesView(id) {
  return section("Responses", panel(async () => {
    const answer = await get(`/end-devices/${id}/responses${query({ limit: 50 })}`);
    return table([
      { label: "Received", cell: (r) => time(r.created_at) },
      { label: "Status", cell: (r) => `${r.status_name} (${r.status})` },
      { label: "Event", cell: (r) => (r.control_id !== null ? link(`#/events/control/${r.control_id}`, `control ${r.control_id}`) : "—") },
      { label: "Subject", class: "mono", cell: (r) => r.subject },
    ], answer.items, "No responses.");
  }));
}

function subscriptionsView(id) {
  return section("Subscriptions", panel(async () => {
    const answer = await get(`/end-devices/${id}/subscriptions`);
    return table([
      { label: "Resource", class: "mono", cell: (s) => s.subscribedResource },
      { label: "Notification URI", class: "mono", cell: (s) => s.notificationURI },
      { label: "Client", class: "mono", cell: (s) => s.client },
      { label: "Limit", cell: (s) => s.limit ?? "—" },
    ], answer.items, "No subscriptions.");
  }));
}

function enrollmentsView(id) {
  return section("Enrollments", panel(async () => {
    const answer = await get(`/end-devices/${id}/enrollments`);
    return table([
      { label: "Enrollment", cell: (e) => String(e.enrollment_id) },
      { label: "Program", cell: (e) => e.program ?? (e.program_id !== null ? String(e.program_id) : "—") },
      { label: "State", cell: (e) => e.state },
      { label: "Sync", cell: (e) => e.sync_state ?? "—" },
      { label: "Last error", cell: (e) => e.last_error ?? "" },
    ], answer.items, "Not enrolled.");
  }));
}

export function page(view, [id], ctx) {
  const summary = panel(async () => {
    const d = await get(`/end-devices/${id}/summary`);
    return dl([["LFDI", h("span", { class: "mono", id: "device-lfdi" }, d.lfdi)], ["SFDI", String(d.sfdi)],
      ["Enabled", d.enabled ? "yes" : "no"], ["Aggregator", d.aggregator_lfdi],
      ["Customer", d.customer ? `${d.customer.name} (${d.customer.id})` : null],
      ["Service point", d.service_point ? `${d.service_point.name} (${d.service_point.id})` : null],
      ["Feeder", d.feeder], ["Last contact", h("span", { id: "last-contact" },
        d.last_contact === null ? "never" : `${time(d.last_contact)} (${ago(d.last_contact)})`)]]);
  });
  replace(view, h("p", {}, link("#/devices", "← Devices")),
    section(`EndDevice ${id}`, summary), treeView(id), derView(id), telemetryView(id), responsesView(id),
    subscriptionsView(id), enrollmentsView(id));
  ctx.every(5000, summary.refresh);
}
