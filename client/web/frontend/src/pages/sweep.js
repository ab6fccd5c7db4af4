// One sweep: counts, curves coloured by a parameter, the job table with
// parameters as columns, the metrics table (as `expctl metrics`), CSV.

import { download, get } from "../api.js";
import { reportTable } from "../report.js";
import { colourBy, curveChart, groupChart, legend } from "../chart.js";
import { dataTable, el, formatNumber, formatParam, formatTime, stateBadge } from "../dom.js";

// Above this many jobs the curves start grouped by colour (the server
// groups above 200 anyway).
const GROUP_ABOVE_JOBS = 200;

async function allJobs(sweepId) {
  const jobs = [];
  let after = 0;
  for (;;) {
    const page = await get(`sweeps/${sweepId}/jobs`, { limit: 5000, after });
    jobs.push(...page.jobs);
    if (page.next_after === null) return jobs;
    after = page.next_after;
  }
}

function varyingParams(jobs) {
  const names = new Set(jobs.flatMap((job) => Object.keys(job.params)));
  return [...names].filter((name) => new Set(jobs.map((job) => JSON.stringify(job.params[name]))).size > 1).sort();
}

export async function sweepPage(root, { id, every }) {
  const sweep = await get(`sweeps/${id}`);
  const jobs = await allJobs(id);
  const jobsById = new Map(jobs.map((job) => [job.id, job]));
  const params = varyingParams(jobs);
  const metrics = await get(`sweeps/${id}/metrics`);
  // The paper-style table, when the sweep's jobs report its columns.
  const answer = await get(`sweeps/${id}/report`, { if_any: 1 });
  const report = answer.rows ? answer : null;

  const counts = el("p", { className: "counts", id: "sweep-counts" });
  function drawCounts(current) {
    counts.replaceChildren(
      stateBadge(current.state),
      ...Object.entries(current.counts).map(([state, n]) => el("span", { className: "count-item" }, `${state} ${n}`)),
    );
  }
  drawCounts(sweep);

  // Curves: a key and a parameter to colour by.
  const keySelect = el("select", { id: "curve-key" }, metrics.keys.map((key) => el("option", { value: key }, key)));
  const colourSelect = el("select", { id: "colour-by" }, params.map((p) => el("option", { value: p }, p)));
  const chartBox = el("div", { id: "curves" });
  async function drawChart() {
    if (!keySelect.value) {
      chartBox.replaceChildren(el("p", { className: "empty" }, "no metrics yet"));
      return;
    }
    const width = Math.max(400, Math.min(1100, root.clientWidth - 40));
    // A sweep too large to draw job by job comes as one curve per colour
    // group (mean, with a min-max band), read from the server's rollups.
    const grouped = groupBox.checked && colourSelect.value;
    const series = await get(`sweeps/${id}/series`, { key: keySelect.value, buckets: width, group: grouped ? colourSelect.value : undefined });
    if (series.grouped) {
      const chart = groupChart(series, { width, title: `${series.key}: mean and range by ${colourSelect.value || "sweep"} (${series.jobs_with_key} jobs, summed every ${series.width} steps)` });
      chartBox.replaceChildren(chart, chart.colours ? legend(chart.colours) : "");
      return;
    }
    const { colourOf, colours } = colourBy(jobs, colourSelect.value);
    chartBox.replaceChildren(curveChart(series, jobsById, colourOf, { width, title: `${series.key} by ${colourSelect.value || "job"}` }), legend(colours));
  }
  // One curve per colour group (the mean over its jobs, with its range):
  // for seeds, or for a sweep too large to draw job by job.
  const groupBox = el("input", { type: "checkbox", id: "group-curves", checked: jobs.length > GROUP_ABOVE_JOBS });
  keySelect.addEventListener("change", drawChart);
  colourSelect.addEventListener("change", drawChart);
  groupBox.addEventListener("change", drawChart);
  const preferred = metrics.keys.find((key) => key === "val_loss") || metrics.keys.find((key) => /val.*loss/.test(key)) || metrics.keys.find((key) => /loss/.test(key)) || metrics.keys.find((key) => key !== "attempt");
  if (preferred) keySelect.value = preferred;
  const preferredParam = params.find((p) => /attention|variant|lr/.test(p));
  if (preferredParam) colourSelect.value = preferredParam;

  const jobTable = dataTable(
    [
      { key: "id", label: "job", numeric: true, render: (j) => el("a", { href: `#/jobs/${j.id}` }, j.id) },
      { key: "stage", label: "stage" },
      ...params.map((p) => ({ key: `param:${p}`, label: p, value: (j) => j.params[p], numeric: params.every(() => true) && typeof jobs[0]?.params[p] === "number" })),
      { key: "state", label: "state", render: (j) => stateBadge(j.state), value: (j) => j.state },
      { key: "attempt", label: "attempts", numeric: true, value: (j) => j.attempt, render: (j) => `${j.attempt}/${j.max_attempts}` },
      { key: "worker_id", label: "worker" },
      { key: "error", label: "error", render: (j) => el("span", { className: "error" }, j.error) },
    ],
    jobs,
    { id: "jobs-table" },
  );

  const metricsTable = dataTable(
    [
      { key: "job_id", label: "job_id", numeric: true, render: (r) => el("a", { href: `#/jobs/${r.job_id}` }, r.job_id) },
      { key: "stage", label: "stage" },
      { key: "state", label: "state" },
      ...metrics.param_columns.map((p) => ({ key: `param:${p}`, label: p, value: (r) => r.params[p] })),
      ...metrics.keys.map((k) => ({ key: `metric:${k}`, label: k, numeric: true, value: (r) => r.metrics[k], render: (r) => formatNumber(r.metrics[k]) })),
    ],
    metrics.rows,
    { id: "metrics-table" },
  );
  const csv = el("button", { onclick: () => download(`sweeps/${id}/metrics.csv`, `sweep-${id}.csv`) }, "CSV");

  // The studies' own pages, when the sweep has their jobs.
  const kinds = new Set(jobs.map((job) => job.kind));
  const studies = [];
  if (["train_music", "evaluate_music", "generate_music"].some((k) => kinds.has(k))) {
    studies.push(el("a", { href: `#/sweeps/${id}/music`, id: "music-link" }, "music study: table, pieces, self-similarity"));
  }
  if (kinds.has("analyze_sae")) studies.push(el("a", { href: `#/sweeps/${id}/sae`, id: "sae-link" }, "SAE study: layer × checkpoint, languages, features"));
  root.replaceChildren(
    el("h1", {}, `Sweep ${sweep.id}: ${sweep.name}`),
    el("p", { className: "meta" }, `created ${formatTime(sweep.created_at_ms)} · ${sweep.groups} groups`),
    studies.length ? el("p", { className: "studies" }, "Pages: ", studies.flatMap((link, i) => (i ? [" · ", link] : [link]))) : "",
    counts,
    el("section", {}, el("h2", {}, "Curves"), el("div", { className: "controls" }, "metric ", keySelect, " colour by ", colourSelect, " ", el("label", {}, groupBox, " mean per group")), chartBox),
    report ? el("section", { id: "sweep-report" }, el("h2", {}, "Results (as expctl report)"),
      el("button", { onclick: () => download(`sweeps/${id}/report.csv`, `sweep-${id}-report.csv`) }, "CSV"), reportTable(report)) : "",
    el("section", {}, el("h2", {}, "Jobs"), jobTable),
    el("section", {}, el("h2", {}, "Metrics (last value per job)"), csv, metricsTable),
    el("section", {}, el("h2", {}, "Sweep file"), el("pre", { className: "spec" }, sweep.spec_yaml)),
  );
  await drawChart();
  every(3000, async () => drawCounts(await get(`sweeps/${id}`)));
}
