// The paper-style table of `expctl report` (the API's report JSON): row
// parameters, n, then "mean ± std" per column.

import { el, formatNumber, formatParam } from "./dom.js";

export function reportTable(report) {
  if (report.error) return el("p", { className: "empty" }, `no table: ${report.error}`);
  const cell = (value) => {
    if (!value) return "–";
    const std = value.std === null || value.n < 2 ? "" : ` ± ${Number(value.std.toPrecision(2))}`;
    return `${formatNumber(value.mean)}${std}`;
  };
  return el(
    "table",
    { id: "music-report" },
    el("thead", {}, el("tr", {}, report.row_params.map((p) => el("th", {}, p)), el("th", { className: "num" }, "n"),
      report.columns.map((c) => el("th", { className: "num", title: c.keys.join(", ") }, c.label)))),
    el("tbody", {}, report.rows.map((row) => el("tr", {},
      report.row_params.map((p) => el("td", {}, formatParam(row.params[p]))),
      el("td", { className: "num" }, row.n),
      report.columns.map((c) => el("td", { className: "num", "data-column": c.id }, cell(row.values[c.id])))))),
  );
}

