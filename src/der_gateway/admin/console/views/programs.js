// Programs with their groups and default controls.
import { get } from "../api.js";
import { h, json, link, panel, replace, section, table, time } from "../dom.js";

async function defaultControl(programId) {
  try {
    return json(await get(`/programs/${programId}/default-control`));
  } catch (err) {
    if (err.status === 404) return h("span", { class: "empty" }, "none");
    throw err;
  }
}

export function page(view) {
  replace(view, section("Programs", panel(async () => {
    const [programs, groups] = await Promise.all([get("/programs"), get("/groups")]);
    const groupById = new Map(groups.items.map((g) => [g.id, g]));
    const defaults = await Promise.all(programs.items.map((p) => defaultControl(p.id)));
    const events = await Promise.all(programs.items.map((p) => get(`/programs/${p.id}/controls`)));
    return table([
      { label: "Program", cell: (p) => h("strong", {}, p.description || `program ${p.id}`) },
      { label: "Id", cell: (p) => String(p.id) },
      { label: "Primacy", cell: (p) => String(p.primacy) },
      { label: "mRID", class: "mono", cell: (p) => p.mRID },
      { label: "Groups", cell: (p) => h("ul", { class: "plain" }, p.groups.map((g) => {
        const group = groupById.get(g);
        return h("li", {}, group ? `${group.description || group.mRID} (${group.endDeviceCount} devices)` : `group ${g}`);
      })) },
      { label: "Default control", cell: (p) => defaults[programs.items.indexOf(p)] },
      { label: "Latest events", cell: (p) => h("ul", { class: "plain" }, events[programs.items.indexOf(p)].items.slice(-5)
        .reverse().map((c) => h("li", {}, link(`#/events/control/${c.id}`, `${c.description || `control ${c.id}`}`),
          ` ${time(c.interval ? c.interval.start : null)} ${c.programEventStatus}`))) },
    ], programs.items, "No programs.");
  })));
}
