// The dashboard in a real headless Chromium (Debian's, driven by
// playwright-core; no browser download). Opens every page on a sweep the
// caller ran, checks that tables and the chart show the numbers the API
// gives, and saves a screenshot of each page.
//
//   node tests/browser.mjs URL SWEEP_ID SCREENSHOT_DIR

import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, sweepId, shots] = process.argv.slice(2);
if (!url || !sweepId || !shots) {
  console.error("usage: node tests/browser.mjs URL SWEEP_ID SCREENSHOT_DIR");
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
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
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
  await page.screenshot({ path: `${shots}/dashboard-sweep.png`, fullPage: true });

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

  check(errors.length === 0, `no errors in the browser console${errors.length ? `: ${errors.join(" | ")}` : ""}`);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
