// A piano roll of a MIDI artifact (the API's /artifacts/{id}/notes): time
// across, pitch up, one bar per note, velocity as opacity. The prompt part
// (the bars the model was given) is shaded so the generated bars stand out.

import { el } from "./dom.js";

const FIELDS = { pitch: 0, velocity: 1, onset: 2, offset: 3 };

export function allNotes(doc) {
  return doc.tracks.flatMap((track) => track.notes);
}

// doc: the notes answer; seconds: the time axis length (shared by a piece
// and its original); promptSeconds: how much of it is the prompt.
export function pianoRoll(doc, { width = 520, height = 180, seconds, promptSeconds = 0, colour = "#1f77b4" } = {}) {
  const notes = allNotes(doc);
  const span = Math.max(seconds || doc.duration_seconds || 1, 0.001);
  const pitches = notes.map((n) => n[FIELDS.pitch]);
  const low = pitches.length ? Math.min(...pitches) - 2 : 48;
  const high = pitches.length ? Math.max(...pitches) + 2 : 72;
  const canvas = el("canvas", { width, height, className: "pianoroll", "data-notes": String(notes.length) });
  const g = canvas.getContext("2d");
  const x = (t) => (t / span) * width;
  const rowHeight = height / (high - low + 1);
  const y = (p) => height - (p - low + 1) * rowHeight;
  g.fillStyle = "#f6f8fa";
  g.fillRect(0, 0, width, height);
  // Octave lines at each C.
  g.strokeStyle = "#dde3e9";
  for (let p = Math.ceil(low / 12) * 12; p <= high; p += 12) {
    g.beginPath();
    g.moveTo(0, y(p) + rowHeight);
    g.lineTo(width, y(p) + rowHeight);
    g.stroke();
  }
  if (promptSeconds > 0) {
    g.fillStyle = "#e6e9ee";
    g.fillRect(0, 0, x(promptSeconds), height);
  }
  for (const note of notes) {
    g.globalAlpha = 0.35 + 0.65 * (note[FIELDS.velocity] / 127);
    g.fillStyle = colour;
    g.fillRect(x(note[FIELDS.onset]), y(note[FIELDS.pitch]), Math.max(2, x(note[FIELDS.offset]) - x(note[FIELDS.onset])), Math.max(2, rowHeight - 0.5));
  }
  g.globalAlpha = 1;
  // The playhead is a separate element over the canvas, moved while playing.
  const head = el("div", { className: "playhead" });
  const box = el("div", { className: "roll" }, canvas, head);
  box.setPlayhead = (t) => {
    head.style.display = t === null ? "none" : "block";
    if (t !== null) head.style.left = `${x(t)}px`;
  };
  box.setPlayhead(null);
  return box;
}
