import { get } from "../api.js";
import { dataTable, el, formatTime } from "../dom.js";

export async function workersPage(root, { every }) {
  async function draw() {
    const { workers } = await get("workers", { all: 1 });
    root.replaceChildren(
      el("h1", {}, "Workers"),
      dataTable(
        [
          { key: "name", label: "name" },
          { key: "hostname", label: "host" },
          { key: "online", label: "online", render: (w) => el("span", { className: w.online ? "state state-running" : "state" }, w.online ? "online" : "offline") },
          { key: "last_seen_at_ms", label: "last heartbeat", render: (w) => formatTime(w.last_seen_at_ms) },
          { key: "slots", label: "slots", numeric: true, value: (w) => w.slots },
          { key: "gpus", label: "GPUs", numeric: true, value: (w) => w.gpus.length },
          { key: "kinds", label: "kinds", value: (w) => w.kinds.join(", ") },
          {
            key: "leases",
            label: "leases (job @ epoch)",
            value: (w) => w.leases.map((l) => `${l.job_id}@${l.lease_epoch}`).join(" "),
            render: (w) => el("span", {}, w.leases.map((l) => [el("a", { href: `#/jobs/${l.job_id}` }, `${l.job_id}`), `@${l.lease_epoch} `])),
          },
        ],
        workers,
        { id: "workers-table" },
      ),
    );
  }
  await draw();
  every(3000, draw);
}
