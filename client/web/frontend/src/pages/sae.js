// The SAE study (Study 2) of one sweep, per model: layer x checkpoint
// heatmaps of the language classes' fractions, the dead fraction, mean
// monosemanticity R and mean span (each cell opens that analysis's feature
// browser); and the study's main figure, the fractions of Japanese /
// English / Mixed / dead features over checkpoints at a chosen layer.

import uPlot from "uplot";
import { get } from "../api.js";
import { heatTable } from "../heatmap.js";
import { el } from "../dom.js";

// [metric, title, colour scale top (null: the grid's max)].
const GRIDS = [
  ["fraction_japanese", "Japanese fraction", 1],
  ["fraction_english", "English fraction", 1],
  ["fraction_mixed", "Mixed fraction", 1],
  ["fraction_dead", "Dead fraction", 1],
  ["mean_r", "Mean monosemanticity R", 1],
  ["mean_span", "Mean span (tokens)", null],
];
const LANGUAGES = [
  ["fraction_japanese", "Japanese", "#d62728"],
  ["fraction_english", "English", "#1f77b4"],
  ["fraction_mixed", "Mixed", "#9467bd"],
  ["fraction_dead", "dead", "#7f7f7f"],
];
const fixed3 = (v) => v.toFixed(3);

function languageChart(model, layer, width) {
  const l = model.layers.indexOf(layer);
  const data = [model.checkpoints, ...LANGUAGES.map(([key]) => model.values[key][l])];
  const holder = el("div", { className: "chart", id: `languages-${model.model || "lm"}`, "data-series": String(LANGUAGES.length), "data-layer": String(layer) });
  holder.plot = new uPlot(
    {
      title: `Features by language at layer ${layer}`,
      width,
      height: 320,
      scales: { x: { time: false }, y: { range: [0, 1] } },
      series: [{ label: "checkpoint" }, ...LANGUAGES.map(([, label, stroke]) => ({ label, stroke, width: 2, points: { show: true }, spanGaps: true }))],
      axes: [{ label: "checkpoint (training step)" }, { label: "fraction of features" }],
    },
    data,
    holder,
  );
  return holder;
}

function modelSection(model, root) {
  const name = model.model || "the sweep's LM";
  const link = (l, c) => {
    const cell = model.analyses[l][c];
    return cell && cell.features_artifact_id ? `#/jobs/${cell.job_id}/features` : null;
  };
  const grids = GRIDS.map(([key, title, top]) => {
    const values = model.values[key];
    const max = top ?? Math.max(1e-9, ...values.flat().filter((v) => v !== null));
    return el("div", { className: "grid-box" }, el("h3", {}, title),
      heatTable(model.layers.map((l) => `layer ${l}`), model.checkpoints, (l, c) => values[l][c],
        { corner: "layer \\ step", format: key === "mean_span" ? (v) => v.toFixed(2) : fixed3, lo: 0, hi: max, link, id: `heat-${key}` }));
  });
  const layerSelect = el("select", { className: "language-layer" }, model.layers.map((l) => el("option", { value: l, selected: l === model.language_layer }, `layer ${l}`)));
  const chartBox = el("div", {});
  const width = Math.max(400, Math.min(900, root.clientWidth - 40));
  const draw = () => chartBox.replaceChildren(languageChart(model, Number(layerSelect.value), width));
  layerSelect.addEventListener("change", draw);
  const section = el("section", { className: "sae-model" },
    el("h2", {}, `Model: ${name}`),
    el("div", { className: "controls" }, "language fractions over checkpoints at ", layerSelect),
    chartBox,
    el("p", { className: "meta" }, "Layer × checkpoint: the last value each analyze_sae job reported (a mean where several analysed one SAE). A cell opens its feature browser."),
    el("div", { className: "grids" }, grids));
  section.draw = draw;
  return section;
}

export async function saePage(root, { id }) {
  const [sweep, sae] = await Promise.all([get(`sweeps/${id}`), get(`sweeps/${id}/sae`)]);
  const sections = sae.models.map((model) => modelSection(model, root));
  root.replaceChildren(
    el("h1", {}, `Sweep ${sweep.id}: ${sweep.name} · SAE study`),
    el("p", { className: "meta" }, el("a", { href: `#/sweeps/${id}` }, "the sweep"), ` · ${sae.models.length} model(s) · as expctl report --sae`),
    ...sections,
  );
  sections.forEach((section) => section.draw());
}


