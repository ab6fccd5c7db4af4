// Metric curves with uPlot. The server cuts each job's points into buckets
// over the sweep's step range (min and max per bucket); every job is drawn as
// its min line with a band up to its max, coloured by a chosen parameter.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { el, formatParam } from "./dom.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// Colour per distinct value of `param` over `jobs` (by job id), in sorted order.
export function colourBy(jobs, param) {
  const values = [...new Set(jobs.map((job) => formatParam(job.params?.[param])))].sort((a, b) => {
    const [x, y] = [Number(a), Number(b)];
    return Number.isNaN(x) || Number.isNaN(y) ? a.localeCompare(b) : x - y;
  });
  const colours = new Map(values.map((value, i) => [value, PALETTE[i % PALETTE.length]]));
  return { values, colourOf: (job) => colours.get(formatParam(job.params?.[param])) || PALETTE[0], colours };
}

// series: the API's /series answer; jobsById: Map id -> job; colour(job).
export function curveChart(series, jobsById, colourOf, { width = 900, height = 360, title = "" } = {}) {
  if (!series.series.length) return el("p", { className: "empty" }, `no points of ${series.key} yet`);
  const buckets = series.buckets;
  const first = series.first_step;
  const width_steps = (series.end_step - first) / buckets;
  const x = Array.from({ length: buckets }, (_, i) => first + i * width_steps);
  const data = [x];
  const uSeries = [{ label: "step" }];
  const bands = [];
  const drawBands = series.series.length <= 200;
  for (const one of series.series) {
    const job = jobsById.get(one.job_id) || { job_id: one.job_id, params: {} };
    const colour = colourOf(job);
    const lows = new Array(buckets).fill(null);
    const highs = new Array(buckets).fill(null);
    one.buckets.forEach((bucket, i) => {
      lows[bucket - 1] = one.min[i];
      highs[bucket - 1] = one.max[i];
    });
    data.push(lows);
    uSeries.push({ label: `job ${one.job_id}`, stroke: colour, width: 1.5, spanGaps: true });
    if (drawBands) {
      data.push(highs);
      uSeries.push({ label: `job ${one.job_id} max`, stroke: colour + "55", width: 0.5, spanGaps: true });
      bands.push({ series: [data.length - 1, data.length - 2], fill: colour + "22" });
    }
  }
  const holder = el("div", { className: "chart", "data-series": String(series.series.length) });
  const plot = new uPlot(
    {
      title,
      width,
      height,
      series: uSeries,
      bands,
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: series.key }],
    },
    data,
    holder,
  );
  holder.plot = plot;
  return holder;
}

export function legend(colours) {
  return el(
    "div",
    { className: "legend" },
    [...colours.entries()].map(([value, colour]) => el("span", {}, el("i", { style: `background:${colour}` }), value)),
  );
}

// Curves per group (the API's grouped /series answer, for sweeps too large
// to draw job by job): the group's mean, with a band from its min to max.
export function groupChart(series, { width = 900, height = 360, title = "" } = {}) {
  if (!series.groups.length) return el("p", { className: "empty" }, `no points of ${series.key} yet`);
  const buckets = series.buckets;
  const first = series.first_step;
  const widthSteps = (series.end_step - first) / buckets;
  const x = Array.from({ length: buckets }, (_, i) => first + i * widthSteps);
  const values = series.groups.map((g) => g.value).sort((a, b) => {
    const [p, q] = [Number(a), Number(b)];
    return Number.isNaN(p) || Number.isNaN(q) ? a.localeCompare(b) : p - q;
  });
  const colours = new Map(values.map((value, i) => [value, PALETTE[i % PALETTE.length]]));
  const data = [x];
  const uSeries = [{ label: "step" }];
  const bands = [];
  for (const group of series.groups) {
    const colour = colours.get(group.value);
    const lines = { mean: new Array(buckets).fill(null), min: new Array(buckets).fill(null), max: new Array(buckets).fill(null) };
    group.buckets.forEach((bucket, i) => {
      for (const key of ["mean", "min", "max"]) lines[key][bucket - 1] = group[key][i];
    });
    const label = `${group.value || "–"} (${group.jobs} jobs)`;
    data.push(lines.mean, lines.min, lines.max);
    uSeries.push({ label, stroke: colour, width: 2, spanGaps: true },
      { label: `${label} min`, stroke: colour + "44", width: 0.5, spanGaps: true },
      { label: `${label} max`, stroke: colour + "44", width: 0.5, spanGaps: true });
    bands.push({ series: [data.length - 1, data.length - 2], fill: colour + "22" });
  }
  const holder = el("div", { className: "chart", "data-series": String(series.groups.length), "data-grouped": "true" });
  holder.plot = new uPlot(
    { title, width, height, series: uSeries, bands, legend: { show: false }, scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: series.key }] },
    data,
    holder,
  );
  holder.colours = new Map([...colours].map(([value, colour]) => [value || "–", colour]));
  return holder;
}
