// The feature browser of one analyze_sae job: every feature of its SAE with
// its language class, monosemanticity R, mean span, firing count and top
// activating snippets; filtered, sorted and paged by the server.

import { get } from "../api.js";
import { el, formatNumber, formatParam } from "../dom.js";

const PAGE = 50;

function snippet(text) {
  // "…before [[token]] after…": the token in bold.
  const parts = String(text).split(/\[\[|\]\]/);
  return el("span", { className: "snippet" }, parts.map((part, i) => (i % 2 ? el("b", {}, part) : part)));
}

export async function featuresPage(root, { id }) {
  const job = await get(`jobs/${id}`);
  const classSelect = el("select", { id: "feature-class" }, ["live", "japanese", "english", "mixed", "dead", "any"].map((c) => el("option", { value: c }, c)));
  const sortSelect = el("select", { id: "feature-sort" }, [["count", "firing count"], ["r", "R"], ["mean_span", "mean span"], ["id", "id"]].map(([v, l]) => el("option", { value: v }, l)));
  const orderSelect = el("select", { id: "feature-order" }, [["desc", "descending"], ["asc", "ascending"]].map(([v, l]) => el("option", { value: v }, l)));
  const box = el("div", {});
  const pager = el("div", { className: "pager" });
  const summaryBox = el("p", { className: "meta", id: "feature-summary" });
  let offset = 0;

  async function draw() {
    const answer = await get(`jobs/${id}/features`, { class: classSelect.value, sort: sortSelect.value, order: orderSelect.value, offset, limit: PAGE });
    const s = answer.summary || {};
    summaryBox.textContent = `${s.n_latents ?? "?"} features: ${s.live ?? "?"} live · Japanese ${s.japanese ?? "?"} · English ${s.english ?? "?"} · Mixed ${s.mixed ?? "?"} · dead ${s.dead ?? "?"} · mean R ${formatNumber(s.mean_r)} · mean span ${formatNumber(s.mean_span)} (rule ${answer.rule}, threshold ${answer.threshold})`;
    box.replaceChildren(
      el("table", { id: "features-table", "data-total": String(answer.total) },
        el("thead", {}, el("tr", {}, ["id", "class", "R", "mean span", "count", "en", "ja", "top activations"].map((h) => el("th", {}, h)))),
        el("tbody", {}, answer.features.map((f) => el("tr", { "data-feature": f.id },
          el("td", { className: "num" }, f.id),
          el("td", {}, el("span", { className: `lang lang-${f.class}` }, f.class)),
          el("td", { className: "num" }, formatNumber(f.r)),
          el("td", { className: "num" }, formatNumber(f.mean_span)),
          el("td", { className: "num" }, f.count),
          el("td", { className: "num" }, f.en_count ?? "–"),
          el("td", { className: "num" }, f.ja_count ?? "–"),
          el("td", { className: "snippets" }, (f.top || []).slice(0, 3).map((t) => el("div", {}, el("span", { className: "meta" }, `${formatNumber(t.value)} `), snippet(t.text)))))))),
    );
    pager.replaceChildren(
      el("button", { disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); draw(); } }, "‹ previous"),
      ` ${answer.total ? offset + 1 : 0}–${Math.min(offset + PAGE, answer.total)} of ${answer.total} `,
      el("button", { disabled: offset + PAGE >= answer.total, onclick: () => { offset += PAGE; draw(); } }, "next ›"),
    );
  }
  for (const select of [classSelect, sortSelect, orderSelect]) select.addEventListener("change", () => { offset = 0; draw(); });
  const params = ["model", "layer", "checkpoint"].filter((p) => job.params[p] !== undefined && job.params[p] !== "").map((p) => `${p} ${formatParam(job.params[p])}`).join(" · ");
  root.replaceChildren(
    el("h1", {}, `Features of job ${job.id}`),
    el("p", { className: "meta" }, el("a", { href: `#/sweeps/${job.sweep_id}/sae` }, `sweep ${job.sweep_id}'s SAE study`), " · ", el("a", { href: `#/jobs/${job.id}` }, "the job"), params ? ` · ${params}` : ""),
    summaryBox,
    el("div", { className: "controls" }, "class ", classSelect, " sort by ", sortSelect, " ", orderSelect),
    pager,
    box,
  );
  await draw();
}
