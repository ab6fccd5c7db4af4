// Small helpers to build the pages without a framework.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatTime(ms) {
  return ms ? new Date(ms).toLocaleString() : "–";
}

export function formatDuration(ms) {
  if (!ms || ms < 0) return "–";
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// Up to 6 significant digits, as expctl's tables.
export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

export function formatParam(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  return typeof value === "number" ? formatNumber(value) : String(value);
}

export function stateBadge(state) {
  return el("span", { className: `state state-${state}` }, state);
}

// A sortable, filterable table: columns [{key, label, value(row), render(row), numeric}].
export function dataTable(columns, rows, { filterPlaceholder = "filter…", id } = {}) {
  let sortKey = null;
  let descending = false;
  let filter = "";
  const body = el("tbody");
  const count = el("span", { className: "count" });
  const header = el(
    "tr",
    {},
    columns.map((column) =>
      el(
        "th",
        {
          className: column.numeric ? "num" : "",
          onclick: () => {
            descending = sortKey === column.key ? !descending : false;
            sortKey = column.key;
            draw();
          },
        },
        column.label,
      ),
    ),
  );
  function value(column, row) {
    return column.value ? column.value(row) : row[column.key];
  }
  function draw() {
    let shown = rows;
    if (filter) {
      const needle = filter.toLowerCase();
      shown = rows.filter((row) => columns.some((c) => String(value(c, row) ?? "").toLowerCase().includes(needle)));
    }
    if (sortKey !== null) {
      const column = columns.find((c) => c.key === sortKey);
      shown = [...shown].sort((a, b) => {
        const x = value(column, a);
        const y = value(column, b);
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""));
        return descending ? -order : order;
      });
    }
    body.replaceChildren(
      ...shown.map((row) =>
        el(
          "tr",
          {},
          columns.map((column) =>
            el("td", { className: column.numeric ? "num" : "" }, column.render ? column.render(row) : formatParam(value(column, row))),
          ),
        ),
      ),
    );
    count.textContent = `${shown.length} of ${rows.length}`;
  }
  draw();
  const input = el("input", {
    type: "search",
    placeholder: filterPlaceholder,
    oninput: (event) => {
      filter = event.target.value;
      draw();
    },
  });
  return el("div", { className: "table-block", id }, el("div", { className: "table-tools" }, input, count),
    el("table", {}, el("thead", {}, header), body));
}
