// Events: a timeline of events and stages, creating an event, and one event's participation and fleet power,
// updating live.
import { get, post, query } from "../api.js";
import { legend, lineChart, stackedBar } from "../chart.js";
import { dl, errorBox, h, json, link, panel, replace, section, table, time } from "../dom.js";

const DAY = 86400;
const STATUSES = [["reserved", "Reserved"], ["received", "Received"], ["started", "Started"],
  ["completed", "Completed"], ["opted_out", "Opted out"], ["no_response", "No response"]];

function href(item) {
  return `#/events/${item.kind === "utility-event" ? "utility" : "control"}/${item.id}`;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function timelineChart(items, from, to) {
  const width = 720, row = 22, left = 160, top = 20;
  const height = top + Math.max(items.length, 1) * row + 8;
  const x = (t) => left + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * (width - left - 8);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "timeline", role: "img" });
  chart.append(svg("title", {}, "events and stages"));
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const t = from + (i * (to - from)) / ticks;
    chart.append(svg("line", { x1: x(t), x2: x(t), y1: top - 4, y2: height, class: "chart-grid" }));
    chart.append(svg("text", { x: x(t), y: 12, "text-anchor": i === ticks ? "end" : i === 0 ? "start" : "middle", class: "chart-axis" },
      new Date(t * 1000).toISOString().slice(5, 16).replace("T", " ")));
  }
  const now = Date.now() / 1000;
  if (now > from && now < to) chart.append(svg("line", { x1: x(now), x2: x(now), y1: top - 4, y2: height, class: "now" }));
  items.forEach((item, i) => {
    const y = top + i * row;
    const a = svg("a", { href: href(item) });
    a.append(svg("text", { x: 4, y: y + 15, class: "chart-label" }, `${item.kind === "utility-event" ? "U" : "C"}${item.id} ${item.description || item.program}`.slice(0, 20)));
    const parts = item.stages && item.stages.length ? item.stages : [{ start: item.start, end: item.end, status: item.status }];
    for (const part of parts) {
      const w = Math.max(2, x(part.end) - x(part.start));
      const bar = svg("rect", { x: x(part.start), y: y + 4, width: w, height: row - 8, class: `span status-${String(part.status).toLowerCase()}` });
      bar.append(svg("title", {}, `${part.status}: ${time(part.start)} – ${time(part.end)}`));
      a.append(bar);
    }
    chart.append(a);
  });
  return chart;
}

function createForm(ctx) {
  const program = h("select", { id: "event-program", required: true, "aria-label": "program" });
  const description = h("input", { id: "event-description", type: "text", maxlength: 32, placeholder: "description" });
  const startIn = h("input", { id: "event-start", type: "number", min: 0, value: "1", required: true });
  const minutes = h("input", { id: "event-duration", type: "number", min: 1, value: "30", required: true });
  const base = h("textarea", { id: "event-base", rows: 3, class: "mono" }, '{"opModMaxLimW": 5000}');
  const result = h("div", { id: "event-result" });
  get("/programs").then((answer) => {
    replace(program, answer.items.map((p) => h("option", { value: p.id }, `${p.description || "program"} (${p.id})`)));
  }).catch((err) => replace(result, errorBox(err)));
  const submit = async (event) => {
    event.preventDefault();
    let controlBase;
    try {
      controlBase = JSON.parse(base.value);
    } catch (err) {
      replace(result, errorBox({ errors: [{ field: "DERControlBase", reason: `not JSON: ${err.message}` }] }));
      return;
    }
    const start = Math.floor(Date.now() / 1000) + Math.round(Number(startIn.value) * 60);
    const body = { interval: { start, duration: Math.round(Number(minutes.value) * 60) }, DERControlBase: controlBase };
    if (description.value.trim()) body.description = description.value.trim();
    const name = program.options[program.selectedIndex] ? program.options[program.selectedIndex].textContent : program.value;
    const answer = await ctx.confirm(`Create an event in ${name} starting ${time(start)} for ${minutes.value} min: ` +
      `${JSON.stringify(controlBase)}?`, { title: "Create event", action: "Create event" });
    if (!answer.ok) return;
    try {
      const created = await post(`/programs/${program.value}/controls`, body);
      ctx.go(`#/events/control/${created.id}`);
    } catch (err) {
      replace(result, errorBox(err));
    }
  };
  return section("New event", h("form", { id: "event-form", class: "grid", onsubmit: submit },
    h("label", {}, "Program", program), h("label", {}, "Description", description),
    h("label", {}, "Starts in (minutes)", startIn), h("label", {}, "Lasts (minutes)", minutes),
    h("label", { class: "wide" }, "DERControlBase (admin JSON form)", base),
    h("button", { type: "submit" }, "Create event…")), result);
}

export function list(view, _params, ctx) {
  let from = Math.floor(Date.now() / 1000 / 3600) * 3600 - DAY / 2;
  const range = h("span", { class: "range" });
  const body = panel(async () => {
    const to = from + 2 * DAY;
    range.textContent = `${time(from)} – ${time(to)}`;
    const answer = await get(`/timeline${query({ from, to })}`);
    return [timelineChart(answer.items, from, to), table([
      { label: "Event", cell: (e) => link(href(e), `${e.kind === "utility-event" ? "utility event" : "control"} ${e.id}`) },
      { label: "Program", cell: (e) => e.program },
      { label: "Description", cell: (e) => e.description ?? "" },
      { label: "Start", cell: (e) => time(e.start) },
      { label: "End", cell: (e) => time(e.end) },
      { label: "Status", cell: (e) => e.status },
      { label: "Stages", cell: (e) => (e.stages.length ? e.stages.map((s) => `${s.position}: ${s.status}`).join(", ") : "—") },
    ], answer.items, "No events in this window.")];
  });
  const shift = (days) => () => {
    from += days * DAY;
    body.refresh();
  };
  replace(view, section("Timeline", h("div", { class: "toolbar" },
    h("button", { type: "button", class: "secondary", onclick: shift(-1) }, "← a day earlier"), range,
    h("button", { type: "button", class: "secondary", onclick: shift(1) }, "a day later →")), body), createForm(ctx));
  ctx.every(10000, body.refresh);
}

const PAGE = 50;  // devices listed per page of the participation table

// page: { s } the index of the first device listed, and go(s) to show another page
function participationView(summary, page) {
  const counts = STATUSES.map(([key, label]) => [label, summary.counts[key] || 0]);
  const first = summary.all ? summary.s + 1 : 0;
  const last = summary.s + summary.devices.length;
  const pager = h("div", { class: "toolbar", id: "participation-pager" },
    h("button", { type: "button", class: "secondary", id: "participation-previous", disabled: summary.s <= 0,
      onclick: () => page.go(Math.max(0, summary.s - PAGE)) }, "← previous"),
    h("span", { class: "range", id: "participation-range" },
      `devices ${first}–${Math.max(first, last)} of ${summary.all}`),
    h("button", { type: "button", class: "secondary", id: "participation-next", disabled: last >= summary.all,
      onclick: () => page.go(summary.s + PAGE) }, "next →"));
  return [
    h("p", { class: "count" }, `As of ${time(summary.as_of)}`),
    h("div", { class: "counts", id: "participation-counts" }, STATUSES.map(([key, label], i) => h("div", {
      class: `count-box c${i}`, "data-status": key,
    }, h("span", { class: "n" }, String(summary.counts[key] || 0)), h("span", { class: "label" }, label)))),
    stackedBar(counts),
    summary.all > PAGE ? pager : null,
    table([
      { label: "EndDevice", cell: (d) => link(`#/devices/${d.end_device_id}`, String(d.end_device_id)) },
      { label: "LFDI", class: "mono", cell: (d) => d.lfdi },
      { label: "Status", cell: (d) => d.status },
    ], summary.devices, summary.all ? "No devices on this page." : "No devices called."),
  ];
}

// power.start and power.end bound the readings asked for (an hour either side of the event, or up to now)
function powerView(power, span) {
  const series = [{ name: "fleet real power (W)", points: power.points }];
  const bands = span ? [{ from: span.from, to: span.to, label: "event" }] : [];
  return [lineChart(series, { unit: power.unit, from: power.start, to: Math.max(power.end, span ? span.to + 3600 : 0),
    bands, title: "fleet power" }), legend(series),
  power.points.length ? null : h("p", { class: "empty" }, "No power readings from the called devices in this window yet.")];
}

function eventSpan(kind, event) {
  if (kind === "utility") {
    if (!event.stages.length) return null;
    return { from: Math.min(...event.stages.map((s) => s.start)),
      to: Math.max(...event.stages.map((s) => s.start + s.duration)) };
  }
  return event.interval ? { from: event.interval.start, to: event.interval.start + event.interval.duration } : null;
}

export function detail(view, [kind, id], ctx) {
  const base = kind === "utility" ? `/utility-events/${id}` : `/controls/${id}`;
  const participationPath = kind === "utility" ? `${base}/participation` : `${base}/participation-summary`;
  const actions = h("div", { class: "actions" });
  let span = null;
  const facts = panel(async () => {
    const event = await get(base);
    span = eventSpan(kind, event);
    if (kind === "utility") {
      return [dl([["Description", event.description], ["Status", h("span", { id: "event-status" }, event.status)],
        ["Created", time(event.created)], ["Cancelled", event.cancelledAt ? time(event.cancelledAt) : null]]),
      table([
        { label: "Stage", cell: (s) => String(s.position) },
        { label: "Event", cell: (s) => link(`#/events/control/${s.controlId}`, `control ${s.controlId}`) },
        { label: "Start", cell: (s) => time(s.start) },
        { label: "Duration", cell: (s) => `${Math.round(s.duration / 60)} min` },
        { label: "Target kW", cell: (s) => (s.targetKW ?? "—") },
        { label: "Status", cell: (s) => s.status },
        { label: "Called", cell: (s) => String(s.calledEndDevices) },
      ], event.stages, "No stages.")];
    }
    const interval = event.interval || {};
    return [dl([["Description", event.description], ["Program", link("#/programs", String(event.programId))],
      ["mRID", h("span", { class: "mono" }, event.mRID)], ["Start", time(interval.start)],
      ["Duration", interval.duration !== undefined ? `${Math.round(interval.duration / 60)} min` : null],
      ["Status", h("span", { id: "event-status" }, `${event.programEventStatus} (${event.EventStatus.currentStatus})`)],
      ["Cancelled", event.cancelledAt ? time(event.cancelledAt) : null]]),
    h("details", {}, h("summary", {}, "DERControlBase"), json(event.DERControlBase))];
  });
  const cancel = async () => {
    const answer = await ctx.confirm(`Cancel ${kind === "utility" ? "utility event" : "event"} ${id}? Devices are told at once.`,
      { title: "Cancel event", action: "Cancel event" });
    if (!answer.ok) return;
    try {
      await post(`${base}/cancel`);
      replace(actions, h("p", { class: "ok" }, "Cancelled."));
      facts.refresh();
    } catch (err) {
      replace(actions, errorBox(err));
    }
  };
  replace(actions, h("button", { type: "button", class: "danger", id: "cancel-event", onclick: cancel }, "Cancel event…"));
  const page = { s: 0 };
  const participation = panel(async () => {
    for (;;) {  // until the answer is of the page to show now (a click may move it while a refresh waits)
      const asked = page.s;
      const summary = await get(`${participationPath}${query({ s: asked, l: PAGE })}`);
      if (asked !== page.s) continue;
      if (asked > 0 && asked >= summary.all) {  // the list shrank under the page shown: show its last page
        page.s = Math.max(0, Math.floor((summary.all - 1) / PAGE) * PAGE);
        continue;
      }
      return participationView(summary, page);
    }
  });
  page.go = (s) => {
    page.s = s;
    participation.refresh();
  };
  participation.id = "participation";
  const power = panel(async () => {
    const [readings, event] = await Promise.all([get(`${base}/power`), span ? null : get(base)]);
    if (event) span = eventSpan(kind, event);
    return powerView(readings, span);
  });
  replace(view, h("p", {}, link("#/events", "← Events")),
    section(`${kind === "utility" ? "Utility event" : "Event"} ${id}`, facts, actions),
    section("Participation", participation), section("Fleet power", power));
  ctx.every(2000, participation.refresh);
  ctx.every(5000, facts.refresh);
  ctx.every(10000, power.refresh);
}
