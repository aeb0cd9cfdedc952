// Times a cold load of backtest pages in headless Chromium (see bench/web_first_chart.py):
// node bench/first_chart.mjs WEB_URL SESSION_JSON RUNS_JSON REPEATS -> one JSON line of medians (ms).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHROMIUM_ARGS } from "../e2e/stack.mjs";

const [web, sessionJson, runsJson, repeatsText] = process.argv.slice(2);
const runs = JSON.parse(runsJson);
const profile = mkdtempSync(path.join(os.tmpdir(), "bench-chromium-"));
const context = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 900 } });
await context.addInitScript((session) => sessionStorage.setItem("backtest-session", session), sessionJson);

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = {};
try {
  for (const [name, run] of Object.entries(runs)) {
    const samples = { price: [], charts: [], table: [] };
    for (let i = 0; i < Number(repeatsText); i++) {
      const page = await context.newPage();
      await page.goto(`${web}/#/backtests/${run.id}`);
      // from navigation start: the first moment each chart has drawn something
      const times = await page.evaluate(async () => {
        const drawn = (label) => {
          const box = document.querySelector(`[aria-label="${label}"]`);
          if (!box) return false;
          return [...box.querySelectorAll("canvas")].some((canvas) => {
            if (!canvas.width || !canvas.height) return false;
            const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
            for (let j = 0; j < data.length; j += 64) if (data[j + 3] > 0 && (data[j] < 200 || data[j + 1] < 200 || data[j + 2] < 200)) return true;
            return false;
          });
        };
        const seen = {};
        const deadline = performance.now() + 120_000;
        while (performance.now() < deadline && !(seen.price && seen.charts && seen.table)) {
          seen.price ??= drawn("Price chart") ? performance.now() : undefined;
          if (!seen.charts && seen.price && drawn("Equity curve") && drawn("Drawdown")) seen.charts = performance.now();
          seen.table ??= document.querySelector("table.trades tbody tr") ? performance.now() : undefined;
          await new Promise((resolve) => requestAnimationFrame(resolve));
        }
        return seen;
      });
      for (const key of Object.keys(samples)) samples[key].push(times[key] ?? NaN);
      await page.close();
    }
    results[name] = Object.fromEntries(Object.entries(samples).map(([key, values]) => [key, median(values)]));
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
