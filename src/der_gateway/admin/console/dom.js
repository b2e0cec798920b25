// Building the page from data: every value goes in as text (textContent or attributes), never as markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function time(epoch) {
  if (epoch === null || epoch === undefined) return "—";
  return new Date(epoch * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function ago(epoch, now = Date.now() / 1000) {
  if (epoch === null || epoch === undefined) return "never";
  const s = Math.round(now - epoch);
  const abs = Math.abs(s);
  const text = abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min` : abs < 172800
    ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function table(columns, rows, empty = "Nothing here.") {
  if (!rows || rows.length === 0) return h("p", { class: "empty" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.cell(row)))))));
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

export function errorBox(err) {
  const errors = err && err.errors ? err.errors : [{ reason: String(err && err.message ? err.message : err) }];
  return h("div", { class: "error", role: "alert" },
    h("ul", {}, errors.map((e) => h("li", {}, e.field ? h("code", {}, e.field) : null, e.field ? ": " : null, e.reason))));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function link(hash, text) {
  return h("a", { href: hash }, text);
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// A part of the page filled by an async loader; a failure shows the API's reasons in its place.
export function panel(load) {
  const el = h("div", { class: "panel" }, h("p", { class: "loading" }, "Loading…"));
  const refresh = async () => {
    try {
      const content = await load();
      replace(el, content);
    } catch (err) {
      replace(el, errorBox(err));
    }
  };
  el.refresh = refresh;
  refresh();
  return el;
}

// An XML document indented one element a line, for reading; the text it returns goes in as text.
export function prettyXml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length) return text;
  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const lines = [];
  const walk = (node, depth) => {
    const pad = "  ".repeat(depth);
    const attrs = Array.from(node.attributes).map((a) => ` ${a.name}="${escape(a.value).replace(/"/g, "&quot;")}"`).join("");
    const elements = Array.from(node.childNodes).filter((c) => c.nodeType === Node.ELEMENT_NODE);
    const content = node.textContent.trim();
    if (elements.length === 0) {
      lines.push(content ? `${pad}<${node.nodeName}${attrs}>${escape(content)}</${node.nodeName}>` : `${pad}<${node.nodeName}${attrs}/>`);
      return;
    }
    lines.push(`${pad}<${node.nodeName}${attrs}>`);
    elements.forEach((child) => walk(child, depth + 1));
    lines.push(`${pad}</${node.nodeName}>`);
  };
  walk(doc.documentElement, 0);
  return lines.join("\n");
}
