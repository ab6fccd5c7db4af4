// The dashboard in a real headless Chromium (Debian's, driven by
// playwright-core; no browser download). Opens every page on the sweeps the
// caller ran (a diagnostic one, and the demo sweep of both studies), checks
// that tables and charts show the numbers the API gives, plays a piece,
// submits a listening-test rating, and saves a screenshot of each page.
//
//   node tests/browser.mjs URL SWEEP_ID STUDIES_SWEEP_ID SCREENSHOT_DIR

import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, sweepId, studiesId, shots] = process.argv.slice(2);
if (!url || !sweepId || !studiesId || !shots) {
  console.error("usage: node tests/browser.mjs URL SWEEP_ID STUDIES_SWEEP_ID SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

let failures = 0;
function check(condition, what) {
  if (condition) {
    console.log(`ok    ${what}`);
  } else {
    console.log(`FAIL  ${what}`);
    failures++;
  }
}

async function api(path) {
  const response = await fetch(new URL(`api/${path}`, url));
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on("pageerror", (error) => errors.push(error.message));
page.on("console", (message) => {
  if (message.type() === "error") errors.push(message.text());
});

try {
  // Sweeps: the sweep's row with its counts.
  const sweep = await api(`sweeps/${sweepId}`);
  await page.goto(`${url}#/sweeps`);
  const row = page.locator("#sweeps-table tbody tr", { hasText: sweep.name });
  await row.first().waitFor();
  const cells = await row.first().locator("td").allTextContents();
  check(cells[0] === String(sweep.id), `sweeps: row of sweep ${sweep.id}`);
  check(cells.includes(String(sweep.counts.succeeded)), `sweeps: ${sweep.counts.succeeded} succeeded shown`);
  await page.screenshot({ path: `${shots}/dashboard-sweeps.png`, fullPage: true });

  // One sweep: the chart draws every job's curve; the metrics table shows the API's numbers.
  await page.goto(`${url}#/sweeps/${sweepId}`);
  await page.locator("#curves .chart canvas").first().waitFor();
  const metrics = await api(`sweeps/${sweepId}/metrics`);
  const key = await page.locator("#curve-key").inputValue();
  const series = await api(`sweeps/${sweepId}/series?key=${encodeURIComponent(key)}&buckets=10`);
  const drawn = Number(await page.locator("#curves .chart").getAttribute("data-series"));
  check(drawn === series.series.length && drawn > 0, `sweep: chart of ${key} draws ${drawn} jobs (API: ${series.series.length})`);
  // Grouped: one curve per colour value (mean and range of its jobs).
  const colourParam = await page.locator("#colour-by").inputValue();
  await page.locator("#group-curves").check();
  await page.locator('#curves .chart[data-grouped="true"] canvas').waitFor();
  const groupSeries = await api(`sweeps/${sweepId}/series?key=${encodeURIComponent(key)}&buckets=10&group=${encodeURIComponent(colourParam)}`);
  const groupsDrawn = Number(await page.locator("#curves .chart").getAttribute("data-series"));
  check(groupsDrawn === groupSeries.groups.length && groupsDrawn > 1, `sweep: grouped by ${colourParam}: ${groupsDrawn} curves (API: ${groupSeries.groups.length})`);
  await page.locator("#group-curves").uncheck();
  await page.locator('#curves .chart:not([data-grouped]) canvas').waitFor();
  const metricRows = await page.locator("#metrics-table tbody tr").count();
  check(metricRows === metrics.rows.length, `sweep: metrics table has ${metricRows} rows (API: ${metrics.rows.length})`);
  const first = metrics.rows[0];
  const firstKey = metrics.keys[0];
  const shownRow = page.locator("#metrics-table tbody tr", { has: page.locator(`a[href="#/jobs/${first.job_id}"]`) });
  const shownCells = await shownRow.first().locator("td").allTextContents();
  const expected = String(Number(first.metrics[firstKey].toPrecision(6)));
  check(shownCells.includes(expected), `sweep: job ${first.job_id} ${firstKey} = ${expected} in the table`);
  const jobRows = await page.locator("#jobs-table tbody tr").count();
  check(jobRows === sweep.counts.total, `sweep: job table has ${jobRows} rows (total ${sweep.counts.total})`);
  // Filtering the job table.
  await page.locator("#jobs-table input[type=search]").fill("failed");
  const failedShown = await page.locator("#jobs-table tbody tr").count();
  check(failedShown === sweep.counts.failed, `sweep: filter 'failed' leaves ${failedShown} (API: ${sweep.counts.failed})`);
  await page.locator("#jobs-table input[type=search]").fill("");
  await page.screenshot({ path: `${shots}/dashboard-sweep-retries.png`, fullPage: true });

  // A job: parameters, log lines, artifacts.
  const jobId = first.job_id;
  const job = await api(`jobs/${jobId}`);
  const logs = await api(`jobs/${jobId}/logs`);
  const artifacts = await api(`jobs/${jobId}/artifacts`);
  await page.goto(`${url}#/jobs/${jobId}`);
  await page.locator("#job-params").waitFor();
  const paramRows = await page.locator("#job-params tr").count();
  check(paramRows === Object.keys(job.params).length, `job: ${paramRows} parameters shown`);
  await page.waitForFunction((n) => document.querySelector("#job-logs").textContent.split("\n").filter(Boolean).length >= n, logs.lines.length);
  check(true, `job: ${logs.lines.length} log lines shown`);
  const artifactRows = artifacts.artifacts.length ? await page.locator("#job-artifacts tr").count() : 0;
  check(artifactRows === artifacts.artifacts.length, `job: ${artifactRows} artifacts listed`);
  if (Object.values(first.metrics).some((v) => v !== null)) {
    await page.locator("#job-curves .chart canvas").first().waitFor();
    check(true, "job: its curve is drawn");
  }
  await page.screenshot({ path: `${shots}/dashboard-job.png`, fullPage: true });

  // Workers: each worker with its state.
  const { workers } = await api("workers?all=1");
  await page.goto(`${url}#/workers`);
  await page.locator("#workers-table tbody tr").first().waitFor();
  const workerRows = await page.locator("#workers-table tbody tr").count();
  check(workerRows === workers.length, `workers: ${workerRows} rows (API: ${workers.length})`);
  await page.screenshot({ path: `${shots}/dashboard-workers.png`, fullPage: true });

  // The studies' sweep: its paper table on the sweep page, links to the study pages.
  const report = await api(`sweeps/${studiesId}/report`);
  await page.goto(`${url}#/sweeps/${studiesId}`);
  await page.locator("#sweep-report tbody tr").first().waitFor();
  const sweepReportRows = await page.locator("#sweep-report tbody tr").count();
  check(sweepReportRows === report.rows.length, `studies sweep: report table has ${sweepReportRows} rows (API: ${report.rows.length})`);
  check((await page.locator("#music-link").count()) === 1 && (await page.locator("#sae-link").count()) === 1,
    "studies sweep: links to the music and SAE pages");
  await page.locator("#curves .chart canvas").first().waitFor();
  await page.screenshot({ path: `${shots}/dashboard-sweep.png`, fullPage: false });

  // The music study: the paper table, a piece played, a rating stored.
  const music = await api(`sweeps/${studiesId}/music`);
  await page.goto(`${url}#/sweeps/${studiesId}/music`);
  await page.locator("#music-report").waitFor();
  const reportRows = await page.locator("#music-report tbody tr").count();
  check(reportRows === music.report.rows.length && reportRows > 0, `music: table has ${reportRows} rows (API: ${music.report.rows.length})`);
  const lossRow = music.report.rows.find((row) => row.values.loss);
  const lossIndex = music.report.rows.indexOf(lossRow);
  const lossText = await page.locator("#music-report tbody tr").nth(lossIndex).locator("td[data-column=loss]").textContent();
  const expectedLoss = String(Number(lossRow.values.loss.mean.toPrecision(6)));
  check(lossText.startsWith(expectedLoss), `music: ${JSON.stringify(lossRow.params)} loss ${lossText} (API: ${expectedLoss})`);
  check(music.pieces.length > 0, `music: the sweep has ${music.pieces.length} generated piece(s)`);
  const piece = music.pieces[0];
  const card = page.locator(`.piece[data-artifact="${piece.piece.id}"]`);
  await card.waitFor();
  const notes = await api(`artifacts/${piece.piece.id}/notes`);
  const rollNotes = Number(await card.locator("canvas.pianoroll").last().getAttribute("data-notes"));
  check(rollNotes === notes.notes, `music: the piano roll draws ${rollNotes} notes (API: ${notes.notes})`);
  const play = card.locator("button.play").last();
  await play.click();
  await page.waitForFunction((id) => {
    const button = [...document.querySelectorAll(`.piece[data-artifact="${id}"] button.play`)].pop();
    return button.dataset.state === "playing" && Number(button.dataset.position || 0) > 0.1;
  }, piece.piece.id, { timeout: 10000 });
  const scheduled = Number(await play.getAttribute("data-scheduled"));
  await page.screenshot({ path: `${shots}/dashboard-music.png`, fullPage: true });
  check(scheduled === notes.notes, `music: playing: ${scheduled} notes scheduled on the audio clock, position advancing`);
  // And it ends by itself once the piece is over.
  await page.waitForFunction((id) => {
    const button = [...document.querySelectorAll(`.piece[data-artifact="${id}"] button.play`)].pop();
    return button.dataset.state === "stopped";
  }, piece.piece.id, { timeout: (notes.duration_seconds + 10) * 1000 });
  check(true, `music: playback ended by itself after the piece (${notes.duration_seconds.toFixed(1)} s)`);
  const form = card.locator("form.rating");
  await form.locator("input[name=rater]").fill("browser-test");
  await form.locator("select[name=coherence]").selectOption("4");
  await form.locator("select[name=musicality]").selectOption("2");
  await form.locator("select[name=overall]").selectOption("5");
  await form.locator("button[type=submit]").click();
  await card.locator(".rating-summary [data-count]").waitFor();
  const rated = (await api(`sweeps/${studiesId}/music`)).pieces.find((p) => p.piece.id === piece.piece.id).ratings;
  check(rated.count === piece.ratings.count + 1 && rated.musicality !== null, `music: the rating is stored (API: ${rated.count} rating(s), musicality ${rated.musicality})`);
  // The listening-test table counts the new rating once the page is reloaded.
  await page.reload();
  await page.locator("#listening-table tbody tr").first().waitFor();
  const listened = await page.locator("#listening-table tbody tr").evaluateAll((rows) => rows.reduce((n, r) => n + Number(r.dataset.ratings), 0));
  check(listened === rated.count, `music: the listening-test table counts ${listened} rating(s) (API: ${rated.count})`);
  const matrices = await page.locator("#self-similarity canvas.matrix").count();
  check(matrices > 0 && matrices >= music.self_similarity.length, `music: ${matrices} self-similarity matrices drawn`);

  // The SAE study: layer x checkpoint grids, the languages chart, the feature browser.
  const sae = await api(`sweeps/${studiesId}/sae`);
  const model = sae.models[0];
  await page.goto(`${url}#/sweeps/${studiesId}/sae`);
  await page.locator("#heat-fraction_mixed").first().waitFor();
  const gridRows = await page.locator("#heat-fraction_mixed tbody tr").count();
  check(gridRows === model.layers.length, `sae: Mixed grid has ${gridRows} layers (API: ${model.layers.length})`);
  const mixed = model.values.fraction_mixed[0][0];
  const mixedText = await page.locator("#heat-fraction_mixed tbody tr").first().locator("td").first().textContent();
  check(mixed !== null && mixedText === mixed.toFixed(3), `sae: layer ${model.layers[0]} checkpoint ${model.checkpoints[0]} Mixed ${mixedText} (API: ${mixed})`);
  await page.locator(".sae-model .chart canvas").first().waitFor();
  const lines = Number(await page.locator(".sae-model .chart").first().getAttribute("data-series"));
  check(lines === 4, "sae: the languages-over-checkpoints chart draws Japanese, English, Mixed and dead");
  await page.screenshot({ path: `${shots}/dashboard-sae.png`, fullPage: true });
  const analysis = model.analyses[0][0];
  await page.locator("#heat-fraction_mixed tbody tr").first().locator("td a").first().click();
  await page.locator("#features-table tbody tr").first().waitFor();
  const features = await api(`jobs/${analysis.job_id}/features`);
  const featureRows = await page.locator("#features-table tbody tr").count();
  const firstFeature = Number(await page.locator("#features-table tbody tr").first().getAttribute("data-feature"));
  check(featureRows === features.features.length && firstFeature === features.features[0].id,
    `features: ${featureRows} rows, first feature ${firstFeature} (API: ${features.features.length}, ${features.features[0].id})`);
  await page.screenshot({ path: `${shots}/dashboard-features.png`, fullPage: false });

  check(errors.length === 0, `no errors in the browser console${errors.length ? `: ${errors.join(" | ")}` : ""}`);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
