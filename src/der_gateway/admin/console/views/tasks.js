// Enrollment and tasks: service tasks by state with their reasons, approvals waiting for engineering,
// enrollments by sync state, and enrollment sync messages (retry a failed one).
import { get, post, query } from "../api.js";
import { errorBox, h, panel, replace, section, table, time } from "../dom.js";

function reasons(task) {
  const list = task.reasons || [];
  if (!list.length) return "";
  return h("ul", { class: "plain reasons" }, list.map((r) => h("li", {}, typeof r === "string" ? r
    : `${r.field ? `${r.field}: ` : ""}${r.reason ?? JSON.stringify(r)}`)));
}

function byState(counts, attribute) {
  const entries = Object.entries(counts);
  if (!entries.length) return h("p", { class: "empty" }, "None.");
  return h("div", { class: "counts" }, entries.map(([state, n], i) => h("div", { class: `count-box c${i % 6}`, [attribute]: state },
    h("span", { class: "n" }, String(n)), h("span", { class: "label" }, state))));
}

const taskColumns = [
  { label: "Task", cell: (t) => String(t.id) },
  { label: "Kind", cell: (t) => t.kind },
  { label: "State", cell: (t) => t.state },
  { label: "DER asset", cell: (t) => (t.derAssetId ?? "—") },
  { label: "Updated", cell: (t) => time(t.updated) },
  { label: "Reasons", cell: reasons },
];

export function page(view, _params, ctx) {
  const notice = h("div", { id: "task-notice" });
  const act = async (message, path, options) => {
    replace(notice);  // the last action's outcome goes, so that this one's cannot be mistaken for it
    const answer = await ctx.confirm(message, options);
    if (!answer.ok) return;
    try {
      await post(path, answer.reason ? { reason: answer.reason } : undefined);
      replace(notice, h("p", { class: "ok" }, "Done."));
    } catch (err) {
      replace(notice, errorBox(err));
    }
    refreshAll();
  };
  const summary = panel(async () => {
    const s = await get("/service-tasks/summary");
    return [h("h3", {}, "By state"), byState(s.by_state, "data-task-state"), h("h3", {}, "Awaiting engineering approval"),
      table([...taskColumns, { label: "", cell: (t) => h("div", { class: "actions" },
        h("button", { type: "button", class: "approve", onclick: () => act(`Approve service task ${t.id}?`,
          `/service-tasks/${t.id}/approve`, { title: "Approve", action: "Approve" }) }, "Approve…"),
        h("button", { type: "button", class: "danger", onclick: () => act(`Reject service task ${t.id}? Give the reason.`,
          `/service-tasks/${t.id}/reject`, { title: "Reject", action: "Reject", reason: true, reasonRequired: true }) }, "Reject…")) }],
      s.awaiting_approval, "Nothing awaits approval.")];
  });
  const state = h("select", { "aria-label": "task state", onchange: () => tasks.refresh() },
    ["", "Pending", "Processing", "Completed", "Error", "Cancelled"].map((v) => h("option", { value: v }, v || "every state")));
  const tasks = panel(async () => table(taskColumns, (await get(`/service-tasks${query({ state: state.value })}`)).items,
    "No service tasks."));
  const enrollments = panel(async () => {
    const s = await get("/enrollments/summary");
    return [h("h3", {}, "By sync state"), byState(s.by_sync_state, "data-sync-state"), table([
      { label: "Enrollment", cell: (e) => String(e.id) },
      { label: "DER asset", cell: (e) => String(e.derAssetId) },
      { label: "Program", cell: (e) => String(e.programId) },
      { label: "Status", cell: (e) => e.status },
      { label: "Sync", cell: (e) => e.syncStatus ?? "—" },
      { label: "Sync reason", cell: (e) => e.syncReason ?? "" },
      { label: "Updated", cell: (e) => time(e.updated) },
    ], s.items, "No enrollments.")];
  });
  const messages = panel(async () => table([
    { label: "Message", cell: (m) => String(m.id) },
    { label: "Endpoint", cell: (m) => m.endpoint ?? String(m.endpointId) },
    { label: "Kind", cell: (m) => m.kind },
    { label: "State", cell: (m) => m.state },
    { label: "Attempts", cell: (m) => String(m.attempts) },
    { label: "Last error", cell: (m) => m.lastError ?? "" },
    { label: "Created", cell: (m) => time(m.created) },
    { label: "", cell: (m) => (m.state === "rejected" || (m.lastError && m.state !== "acknowledged")
      ? h("button", { type: "button", onclick: () => act(`Send sync message ${m.id} again now?`,
        `/sync/messages/${m.id}/retry`, { title: "Retry", action: "Retry" }) }, "Retry…") : "") },
  ], (await get("/sync/messages")).items, "No sync messages."));
  const refreshAll = () => [summary, tasks, enrollments, messages].forEach((p) => p.refresh());
  replace(view, notice, section("Service tasks", summary), section("All service tasks", h("div", { class: "toolbar" }, state), tasks),
    section("Enrollments", enrollments), section("Enrollment sync messages", messages));
  ctx.every(5000, refreshAll);
}
