// Line charts as inline SVG, drawn with DOM calls (no markup strings, no inline style: the CSP forbids it).
const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function ticks(lo, hi, count) {
  if (hi === lo) return [lo];
  const step = (hi - lo) / count;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
}

function clock(epoch, span) {
  const iso = new Date(epoch * 1000).toISOString();
  return span > 2 * 86400 ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 16);
}

function number(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
}

// series: [{name, points: [[epoch, value]]}]; options: {unit, from, to, bands: [{from, to, label}]}
export function lineChart(series, options = {}) {
  const width = 720, height = 240, left = 56, right = 28, top = 12, bottom = 28;
  const all = series.flatMap((x) => x.points);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const title = options.title || series.map((x) => x.name).join(", ");
  svg.append(s("title", {}, title));
  if (all.length === 0 && options.from === undefined) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" }, "no data"));
    return svg;
  }
  const t0 = options.from ?? Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(options.to ?? -Infinity, ...all.map((p) => p[0]), t0 + 1);
  let v0 = Math.min(0, ...all.map((p) => p[1]));
  let v1 = Math.max(...all.map((p) => p[1]), v0 + 1);
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - (v - v0) / (v1 - v0)) * (height - top - bottom);
  for (const band of options.bands || []) {
    const a = x(Math.max(band.from, t0)), b = x(Math.min(band.to ?? t1, t1));
    if (b > a) {
      svg.append(s("rect", { x: a, y: top, width: b - a, height: height - top - bottom, class: "chart-band" }));
      svg.append(s("text", { x: a + 4, y: top + 12, class: "chart-label" }, band.label || ""));
    }
  }
  for (const v of ticks(v0, v1, 4)) {
    svg.append(s("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "chart-grid" }));
    svg.append(s("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-axis" }, number(v)));
  }
  ticks(t0, t1, 5).forEach((t, i) => {
    svg.append(s("text", { x: x(t), y: height - 8, "text-anchor": i === 5 ? "end" : "middle", class: "chart-axis" },
      clock(t, t1 - t0)));
  });
  if (options.unit) svg.append(s("text", { x: 4, y: top + 4, class: "chart-axis" }, options.unit));
  series.forEach((line, i) => {
    if (line.points.length === 0) return;
    const d = line.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    svg.append(s("polyline", { points: d, class: `chart-line c${i % 6}` }));
    if (line.points.length === 1) {
      svg.append(s("circle", { cx: x(line.points[0][0]), cy: y(line.points[0][1]), r: 3, class: `chart-dot c${i % 6}` }));
    }
  });
  return svg;
}

export function legend(series) {
  const list = document.createElement("ul");
  list.className = "legend";
  series.forEach((line, i) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch c${i % 6}`;
    item.append(swatch, document.createTextNode(line.name));
    list.append(item);
  });
  return list;
}

// counts: [[label, n]] as one stacked horizontal bar
export function stackedBar(counts) {
  const width = 720, height = 28;
  const total = counts.reduce((a, [, n]) => a + n, 0);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "bar", role: "img" });
  svg.append(s("title", {}, counts.map(([k, n]) => `${k} ${n}`).join(", ")));
  let at = 0;
  counts.forEach(([label, n], i) => {
    if (!total || !n) return;
    const w = (n / total) * width;
    svg.append(s("rect", { x: at, y: 0, width: w, height, class: `bar-part c${i % 6}` }));
    at += w;
  });
  return svg;
}
