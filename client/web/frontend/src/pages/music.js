// The music study (Study 1) of one sweep: the paper-style table (as `expctl
// report`), each generated piece as a piano roll beside its original with
// playback and the listening-test form, and the bar self-similarity
// matrices of the evaluations.

import { fetchBytes, get, post } from "../api.js";
import { matrixCanvas } from "../heatmap.js";
import { reportTable } from "../report.js";
import { allNotes, pianoRoll } from "../pianoroll.js";
import { play } from "../player.js";
import { el, formatNumber, formatParam } from "../dom.js";

const SCORES = [
  ["coherence", "Coherence"],
  ["musicality", "Musicality"],
  ["overall", "Overall"],
];
const RATER_KEY = "expsvc-rater";

// Seconds per beat from the notes (the pieces have one tempo).
function secondsPerBeat(doc) {
  const note = allNotes(doc).find((n) => n[4] > 0);
  return note ? note[2] / note[4] : 0.5;
}

function ratingForm(piece, summaryBox) {
  const selects = SCORES.map(([name, label]) =>
    el("label", {}, label, " ", el("select", { name }, [1, 2, 3, 4, 5].map((v) => el("option", { value: v, selected: v === 3 }, v)))));
  const rater = el("input", { name: "rater", placeholder: "your name", required: true, value: localStorage.getItem(RATER_KEY) || "" });
  const message = el("span", { className: "form-message" });
  const form = el("form", { className: "rating" }, rater, ...selects, el("button", { type: "submit" }, "Rate"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { artifact_id: piece.piece.id, rater: rater.value.trim() };
    for (const [name] of SCORES) body[name] = Number(form.querySelector(`select[name=${name}]`).value);
    try {
      const answer = await post("ratings", body);
      localStorage.setItem(RATER_KEY, body.rater);
      message.textContent = `saved (${answer.rating.rater})`;
      message.className = "form-message ok";
      summaryBox.replaceChildren(ratingSummary(answer.ratings));
    } catch (error) {
      message.textContent = error.message;
      message.className = "form-message error";
    }
  });
  return form;
}

function ratingSummary(ratings) {
  if (!ratings.count) return el("span", { className: "empty" }, "not rated yet");
  return el("span", { "data-count": ratings.count },
    `${ratings.count} rating${ratings.count === 1 ? "" : "s"}: `,
    SCORES.map(([name, label]) => `${label} ${ratings[name].toFixed(2)}`).join(" · "));
}

async function pieceCard(piece, rowParams) {
  const [generated, original] = await Promise.all([
    get(`artifacts/${piece.piece.id}/notes`),
    piece.original ? get(`artifacts/${piece.original.id}/notes`) : null,
  ]);
  const seconds = Math.max(generated.duration_seconds, original ? original.duration_seconds : 0, 0.5);
  const promptBars = piece.record?.prompt_bars ?? 0;
  const promptSeconds = promptBars * 4 * secondsPerBeat(original || generated);
  const label = rowParams.length ? rowParams.map((p) => `${p}=${formatParam(piece.params[p])}`).join(" ") : piece.kind;
  const card = el("div", { className: "piece", "data-artifact": piece.piece.id });
  const rollOf = (doc, colour, name) => {
    const roll = pianoRoll(doc, { seconds, promptSeconds, colour });
    const button = el("button", { className: "play", "data-state": "stopped" }, `▶ ${name}`);
    button.addEventListener("click", async () => {
      if (button.dataset.state === "playing") {
        button.handle?.stop();
        return;
      }
      document.querySelectorAll("button.play").forEach((b) => { b.dataset.state = "stopped"; b.textContent = b.textContent.replace("■", "▶"); });
      button.dataset.state = "playing";
      button.textContent = `■ ${name}`;
      button.handle = await play(allNotes(doc), (t) => {
        roll.setPlayhead(t);
        if (t === null) {
          button.dataset.state = "stopped";
          button.textContent = `▶ ${name}`;
        } else {
          button.dataset.position = t.toFixed(2);
        }
      });
      button.dataset.scheduled = String(button.handle.scheduled);
    });
    return el("div", { className: "roll-box" }, el("div", { className: "roll-title" }, name, " ", button, ` ${allNotes(doc).length} notes`), roll);
  };
  const summary = el("div", { className: "rating-summary" }, ratingSummary(piece.ratings));
  card.append(
    el("h3", {}, el("a", { href: `#/jobs/${piece.job_id}` }, `job ${piece.job_id}`), ` · piece ${piece.index} · ${label}`),
    el("p", { className: "meta" },
      piece.record ? `test window ${piece.record.window} · ${promptBars} prompt bar(s) (shaded) · ${piece.record.generated_notes} notes generated · stopped by ${piece.record.stop_reason}` : ""),
    el("div", { className: "rolls" }, original ? rollOf(original, "#7f7f7f", "original") : "", rollOf(generated, "#1f77b4", "generated")),
    summary,
    ratingForm(piece, summary),
  );
  return card;
}

async function similarityFigures(entry, rowParams) {
  const doc = JSON.parse(new TextDecoder().decode(await fetchBytes(`artifacts/${entry.artifact.id}/download`)));
  const label = rowParams.length ? rowParams.map((p) => `${p}=${formatParam(entry.params[p])}`).join(" ") : "";
  return el("div", { className: "similarity" },
    el("h3", {}, el("a", { href: `#/jobs/${entry.job_id}` }, `job ${entry.job_id}`), ` ${label}`),
    el("div", { className: "matrices" }, doc.pieces.slice(0, 4).flatMap((piece) => [
      matrixCanvas(piece.truth.values, { title: `window ${piece.window}: original` }),
      matrixCanvas(piece.generated.values, { title: `generated after ${piece.prompt_bars} bar(s), ${piece.stop_reason}` }),
    ])));
}

// The listening test per row of the paper table (e.g. per attention
// variant): each score's mean over every rating of the row's pieces.
function listeningTable(pieces, rowParams) {
  const rows = new Map();
  for (const piece of pieces) {
    const label = rowParams.length ? rowParams.map((p) => formatParam(piece.params[p])).join(" · ") : "all pieces";
    const row = rows.get(label) || { label, pieces: 0, ratings: 0, sums: { coherence: 0, musicality: 0, overall: 0 } };
    row.pieces += 1;
    row.ratings += piece.ratings.count;
    for (const [name] of SCORES) row.sums[name] += piece.ratings.count ? piece.ratings[name] * piece.ratings.count : 0;
    rows.set(label, row);
  }
  return el("table", { id: "listening-table" },
    el("thead", {}, el("tr", {}, el("th", {}, rowParams.join(" · ") || "pieces"), el("th", { className: "num" }, "pieces"),
      el("th", { className: "num" }, "ratings"), SCORES.map(([, label]) => el("th", { className: "num" }, label)))),
    el("tbody", {}, [...rows.values()].map((row) => el("tr", { "data-ratings": row.ratings },
      el("td", {}, row.label), el("td", { className: "num" }, row.pieces), el("td", { className: "num" }, row.ratings),
      SCORES.map(([name]) => el("td", { className: "num" }, row.ratings ? (row.sums[name] / row.ratings).toFixed(2) : "–"))))));
}

export async function musicPage(root, { id }) {
  const [sweep, music] = await Promise.all([get(`sweeps/${id}`), get(`sweeps/${id}/music`)]);
  const rowParams = music.report.row_params || [];
  const pieces = await Promise.all(music.pieces.map((piece) => pieceCard(piece, rowParams)));
  const matrices = await Promise.all(music.self_similarity.map((entry) => similarityFigures(entry, rowParams)));
  root.replaceChildren(
    el("h1", {}, `Sweep ${sweep.id}: ${sweep.name} · music study`),
    el("p", { className: "meta" }, el("a", { href: `#/sweeps/${id}` }, "the sweep"), " · last value of each metric; mean ± sample std over repetitions"),
    el("section", {}, el("h2", {}, "Results (as expctl report)"), reportTable(music.report)),
    el("section", { id: "listening" }, el("h2", {}, "Listening test"),
      el("p", { className: "meta" }, "mean of every rating (1 to 5) of the row's pieces; rate pieces below"),
      music.pieces.length ? listeningTable(music.pieces, rowParams) : el("p", { className: "empty" }, "no pieces to rate")),
    el("section", { id: "pieces" }, el("h2", {}, "Generated pieces"),
      pieces.length ? pieces : el("p", { className: "empty" }, "no generated pieces (generate_music jobs write piece_N.mid)")),
    el("section", { id: "self-similarity" }, el("h2", {}, "Bar self-similarity"),
      el("p", { className: "meta" }, "cosine similarity of every pair of bars (darker: more alike); the original beside the continuation"),
      matrices.length ? matrices : el("p", { className: "empty" }, "no self_similarity.json (evaluate_music with continuations writes it)")),
  );
}
