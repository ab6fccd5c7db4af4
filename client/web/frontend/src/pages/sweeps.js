import { get } from "../api.js";
import { dataTable, el, formatTime, stateBadge } from "../dom.js";

const STATES = ["waiting", "queued", "running", "succeeded", "failed", "cancelled"];

export async function sweepsPage(root, { every }) {
  async function draw() {
    const { sweeps } = await get("sweeps", { limit: 200 });
    const table = dataTable(
      [
        { key: "id", label: "id", numeric: true, render: (s) => el("a", { href: `#/sweeps/${s.id}` }, s.id) },
        { key: "name", label: "name", render: (s) => el("a", { href: `#/sweeps/${s.id}` }, s.name) },
        { key: "state", label: "state", render: (s) => stateBadge(s.state) },
        ...STATES.map((state) => ({ key: state, label: state, numeric: true, value: (s) => s.counts[state] })),
        { key: "total", label: "total", numeric: true, value: (s) => s.counts.total },
        { key: "created_at_ms", label: "created", render: (s) => formatTime(s.created_at_ms) },
      ],
      sweeps,
      { id: "sweeps-table" },
    );
    root.replaceChildren(el("h1", {}, "Sweeps"), sweeps.length ? table : el("p", { className: "empty" }, "no sweeps yet: expctl submit FILE"));
  }
  await draw();
  // Live: counts are polled while the page is open.
  every(3000, draw);
}
