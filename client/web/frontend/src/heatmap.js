// Heatmaps without a chart library: a matrix on a canvas (bar
// self-similarity), and a table whose cells are coloured by value (the SAE
// study's layer x checkpoint grids), so the numbers stay readable.

import { el, formatNumber } from "./dom.js";

// White to dark blue over [lo, hi].
export function shade(value, lo = 0, hi = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "#f0f0f0";
  const t = hi > lo ? Math.min(1, Math.max(0, (value - lo) / (hi - lo))) : 0.5;
  const channel = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${channel(247, 8)}, ${channel(251, 69)}, ${channel(255, 148)})`;
}

// values: square matrix (null: missing); cells of `cell` px.
export function matrixCanvas(values, { title = "" } = {}) {
  const n = values.length;
  // About 200 px whatever the number of bars.
  const cell = Math.max(6, Math.min(40, Math.floor(200 / Math.max(n, 1))));
  const canvas = el("canvas", { width: n * cell, height: n * cell, className: "matrix", "data-size": String(n) });
  const g = canvas.getContext("2d");
  values.forEach((row, i) =>
    row.forEach((value, j) => {
      g.fillStyle = shade(value);
      g.fillRect(j * cell, i * cell, cell - 1, cell - 1);
    }),
  );
  return el("figure", { className: "matrix-figure" }, canvas, title ? el("figcaption", {}, title) : "");
}

// rows/columns: labels; value(i, j) -> number or null; format(number).
export function heatTable(rowLabels, columnLabels, value, { corner = "", format = formatNumber, lo = 0, hi = 1, link, id } = {}) {
  return el(
    "table",
    { className: "heat", id },
    el("thead", {}, el("tr", {}, el("th", {}, corner), columnLabels.map((c) => el("th", { className: "num" }, c)))),
    el(
      "tbody",
      {},
      rowLabels.map((r, i) =>
        el(
          "tr",
          {},
          el("th", {}, r),
          columnLabels.map((_, j) => {
            const v = value(i, j);
            const dark = v !== null && v !== undefined && (v - lo) / (hi - lo || 1) > 0.55;
            const text = v === null || v === undefined ? "–" : format(v);
            const target = link ? link(i, j) : null;
            return el("td", { className: `num${dark ? " dark" : ""}`, style: `background:${shade(v, lo, hi)}`, "data-value": v ?? "" },
              target ? el("a", { href: target }, text) : text);
          }),
        ),
      ),
    ),
  );
}
