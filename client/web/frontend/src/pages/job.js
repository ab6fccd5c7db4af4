// One job: parameters, metrics, logs (followed while it runs), artifacts,
// parents and children.

import { download, get } from "../api.js";
import { curveChart } from "../chart.js";
import { el, formatDuration, formatNumber, formatParam, formatTime, stateBadge } from "../dom.js";

export async function jobPage(root, { id, every }) {
  const job = await get(`jobs/${id}`);
  const [{ artifacts }, metrics] = await Promise.all([get(`jobs/${id}/artifacts`), get(`sweeps/${job.sweep_id}/metrics`)]);
  const row = metrics.rows.find((r) => r.job_id === job.id);

  const logBox = el("pre", { className: "logs", id: "job-logs" });
  let lastSeq = 0;
  async function pollLogs() {
    const { lines } = await get(`jobs/${id}/logs`, { after: lastSeq, limit: 2000 });
    for (const line of lines) {
      lastSeq = line.seq;
      logBox.append(`[${line.attempt}] ${line.line}\n`);
    }
    if (lines.length) logBox.scrollTop = logBox.scrollHeight;
  }

  const link = (jobId) => el("a", { href: `#/jobs/${jobId}` }, jobId);
  const chartBox = el("div", { id: "job-curves" });
  root.replaceChildren(
    el("h1", {}, `Job ${job.id}`, " ", stateBadge(job.state)),
    el("p", { className: "meta" },
      el("a", { href: `#/sweeps/${job.sweep_id}` }, `sweep ${job.sweep_id}`),
      ` · stage ${job.stage} · kind ${job.kind} · attempt ${job.attempt}/${job.max_attempts}`,
      job.worker_id ? ` · worker ${job.worker_id}` : "",
      ` · ran ${formatDuration((job.finished_at_ms || Date.now()) - job.started_at_ms)}`,
      artifacts.some((a) => a.name === "features.json") ? [" · ", el("a", { href: `#/jobs/${job.id}/features`, id: "features-link" }, "feature browser")] : ""),
    job.error ? el("p", { className: "error" }, job.error) : "",
    el("section", {}, el("h2", {}, "Parameters"),
      el("table", { id: "job-params" }, Object.entries(job.params).map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, formatParam(value)))))),
    el("section", {}, el("h2", {}, "Metrics"),
      row ? el("table", { id: "job-metrics" }, Object.entries(row.metrics).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { className: "num" }, formatNumber(v))))) : el("p", { className: "empty" }, "none"),
      chartBox),
    el("section", {}, el("h2", {}, "Artifacts"),
      artifacts.length
        ? el("table", { id: "job-artifacts" }, artifacts.map((a) => el("tr", {},
            el("td", {}, el("a", { href: "#", onclick: (event) => { event.preventDefault(); download(`artifacts/${a.id}/download`, a.name); } }, a.name)),
            el("td", { className: "num" }, `${a.size_bytes} B`), el("td", {}, `attempt ${a.attempt}`), el("td", { className: "sha" }, a.sha256.slice(0, 16)))))
        : el("p", { className: "empty" }, "none")),
    el("section", {}, el("h2", {}, "Depends on / needed by"),
      el("p", {}, "parents: ", job.parent_ids.length ? job.parent_ids.map(link) : "none", " · children: ", job.child_ids.length ? job.child_ids.map(link) : "none")),
    el("section", {}, el("h2", {}, "Log"), logBox),
  );
  await pollLogs();
  if (row && Object.keys(row.metrics).length) {
    const key = Object.keys(row.metrics)[0];
    const series = await get(`sweeps/${job.sweep_id}/series`, { key, buckets: 600 });
    series.series = series.series.filter((s) => s.job_id === job.id);
    chartBox.replaceChildren(curveChart(series, new Map([[job.id, job]]), () => "#1f77b4", { width: 700, height: 260, title: key }));
  }
  // Following: new lines while the job is not finished.
  if (["running", "queued", "waiting"].includes(job.state)) every(2000, pollLogs);
}
