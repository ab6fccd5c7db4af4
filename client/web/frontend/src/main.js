// The dashboard: a hash router over the pages; each page may poll (`every`),
// and its timers stop when another page opens.

import "./style.css";
import { ApiError, setToken, token } from "./api.js";
import { el } from "./dom.js";
import { featuresPage } from "./pages/features.js";
import { jobPage } from "./pages/job.js";
import { musicPage } from "./pages/music.js";
import { saePage } from "./pages/sae.js";
import { sweepPage } from "./pages/sweep.js";
import { sweepsPage } from "./pages/sweeps.js";
import { workersPage } from "./pages/workers.js";

const routes = [
  [/^#\/sweeps\/(\d+)$/, sweepPage],
  [/^#\/sweeps\/(\d+)\/music$/, musicPage],
  [/^#\/sweeps\/(\d+)\/sae$/, saePage],
  [/^#\/jobs\/(\d+)\/features$/, featuresPage],
  [/^#\/jobs\/(\d+)$/, jobPage],
  [/^#\/workers$/, workersPage],
  [/^#\/sweeps$/, sweepsPage],
];

const app = document.getElementById("app");
const status = document.getElementById("status");
let timers = [];
let generation = 0;

function tokenForm(message) {
  const input = el("input", { type: "password", placeholder: "user token", id: "token-input" });
  return el("form", { className: "token", onsubmit: (event) => { event.preventDefault(); setToken(input.value.trim()); route(); } },
    el("p", {}, message), input, el("button", { type: "submit" }, "Use token"));
}

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const mine = ++generation;
  const hash = location.hash || "#/sweeps";
  const match = routes.map(([pattern, page]) => [hash.match(pattern), page]).find(([m]) => m);
  if (!match) {
    app.replaceChildren(el("p", { className: "error" }, `no page ${hash}`));
    return;
  }
  const [found, page] = match;
  const every = (ms, fn) => {
    if (mine !== generation) return;
    timers.push(setInterval(() => fn().then(() => { status.textContent = ""; }).catch((error) => { status.textContent = error.message; }), ms));
  };
  app.replaceChildren(el("p", { className: "loading" }, "loading…"));
  try {
    await page(app, { id: found[1], every });
    app.dataset.page = hash;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      app.replaceChildren(tokenForm(token() ? `the token was refused: ${error.message}` : "This dashboard needs a user token."));
    } else {
      app.replaceChildren(el("p", { className: "error" }, error.message));
    }
  }
}

window.addEventListener("hashchange", route);
route();
