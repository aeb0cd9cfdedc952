// End to end, in headless Chromium against the real `make dev` stack (another origin than the API):
// sign up through the UI, build a strategy in the rule builder (an invalid rule first: the API's
// message shows next to its field; the catalogue's parameters and outputs; direction both), run a
// backtest on the sample data and watch its progress reach 100 % live, see the charts drawn, the
// summary cards (every field labelled, long/short side by side), the trades table's count equal the
// API's, the CSV's rows equal the trades, click a trade to scroll the chart, run Monte Carlo, see a
// take-profit strategy's legs, compare two backtests, sweep 3 x 3 (heatmap, Monte Carlo of rank 1,
// run as a backtest), a walk-forward's windows, a transactions replay, funding rates imported and
// charged, edit and delete, sign out and in, a 401. Screenshots land in e2e/artifacts/.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM_ARGS, startDev } from "./stack.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
const step = (text) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

// Every trades CSV goes through the results bucket (a 303 to a presigned URL), as large ones do on AWS.
const stack = await startDev({ parameters: { TradesCsvInlineMaxBytes: 0 } });
step(`stack up: web ${stack.web}, api ${stack.api}, ws ${stack.ws}`);
const profile = mkdtempSync(path.join(os.tmpdir(), "e2e-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: CHROMIUM_ARGS,
  acceptDownloads: true,
  viewport: { width: 1360, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
// HTTP errors the app handles (the 422 above, a missing optional route) are not script errors
page.on("console", (message) => message.type() === "error" && !message.text().startsWith("Failed to load resource") && problems.push(`console: ${message.text()}`));
// the toast of an earlier action would cover what a screenshot shows
const HIDE_TOAST = "#toast { display: none !important; }";
const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true, style: HIDE_TOAST });

async function api(pathname, { accept = "application/json" } = {}) {
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("backtest-session")).token);
  const response = await fetch(`${stack.api}/api/v1${pathname}`, { headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  assert.equal(response.status, 200, `${pathname}: ${response.status}`);
  return accept.includes("json") ? response.json() : response.text();
}

async function apiSend(method, pathname, body) {
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("backtest-session")).token);
  const response = await fetch(`${stack.api}/api/v1${pathname}`, {
    method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.ok(response.status < 300, `${method} ${pathname}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function completed(backtestId) {
  for (let i = 0; i < 240; i++) {
    const backtest = await api(`/backtests/${backtestId}`);
    if (!["pending", "running"].includes(backtest.status)) return backtest;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`backtest ${backtestId} did not finish`);
}

/** Canvas pixels that are not the background: the chart drew something. */
async function drawnPixels(label) {
  const chart = page.getByRole("img", { name: label, exact: true });
  await chart.waitFor();
  await page.waitForTimeout(300);
  return chart.evaluate((element) =>
    [...element.querySelectorAll("canvas")].reduce((count, canvas) => {
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 16) if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) count++;
      return count;
    }, 0),
  );
}

async function runBacktest(timeframe) {
  await page.getByLabel("Strategy", { exact: true }).selectOption({ label: "E2E SMA cross" });
  await page.getByLabel("Symbol", { exact: true }).selectOption("BTCUSDT");
  await page.getByLabel("Timeframe", { exact: true }).selectOption(timeframe);
  await page.getByLabel("Initial balance").fill("10000");
  await page.getByRole("button", { name: "Run backtest" }).click();
  const row = page.locator("tbody tr").filter({ hasText: timeframe }).filter({ hasText: "E2E SMA cross" }).first();
  await row.waitFor();
  return row;
}

try {
  // ---------------------------------------------------------------- sign up
  await page.goto(stack.web);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByRole("link", { name: "Sign up" }).click();
  const email = `e2e-${Date.now()}@example.com`;
  await page.getByLabel("Name").fill("E2E Trader");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await shot("01-sign-up");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("heading", { name: "Backtests", exact: true }).waitFor();
  step("signed up");

  // ---------------------------------------------------------------- strategy in the rule builder
  await page.getByRole("link", { name: "Strategies" }).click();
  await page.getByRole("link", { name: "New strategy" }).click();
  await page.getByLabel("Name", { exact: true }).fill("E2E SMA cross");
  const entry = page.locator("fieldset.rules").nth(0);
  await entry.getByLabel("Indicator", { exact: true }).selectOption("sma");
  await entry.getByLabel("Period", { exact: true }).fill("0"); // invalid: TA-Lib's SMA needs at least 1
  await entry.getByLabel("Comparator").selectOption("crosses_above");
  await entry.getByLabel("Compare with").selectOption("indicator");
  await entry.getByLabel("Value indicator").selectOption("sma");
  await entry.getByLabel("Value period").fill("30");
  const exit = page.locator("fieldset.rules").nth(1);
  await exit.getByRole("button", { name: "Add condition" }).click();
  await exit.getByLabel("Indicator", { exact: true }).selectOption("sma");
  await exit.getByLabel("Period", { exact: true }).fill("10");
  await exit.getByLabel("Comparator").selectOption("crosses_below");
  await exit.getByLabel("Compare with").selectOption("indicator");
  await exit.getByLabel("Value indicator").selectOption("sma");
  await exit.getByLabel("Value period").fill("30");
  await page.getByLabel("Stop loss %").fill("3");
  await page.getByRole("button", { name: "Create strategy" }).click();
  const periodError = page.locator('[data-error-for="entry_rules.conditions[0].params.period"]');
  await periodError.filter({ hasText: /./ }).waitFor();
  const message = await periodError.textContent();
  const period = entry.getByLabel("Period", { exact: true });
  assert.equal(await period.getAttribute("aria-invalid"), "true");
  assert.ok((await period.getAttribute("aria-describedby")) === (await periodError.getAttribute("id")), "the message describes the field");
  await shot("02-invalid-rule");
  step(`the API's 422 shows next to the period: "${message}"`);
  await period.fill("10");
  await page.getByRole("button", { name: "Create strategy" }).click();
  await page.getByRole("cell", { name: "E2E SMA cross", exact: true }).waitFor();
  step("strategy created");

  // the catalogue's parameters, readable, and a multi-output indicator's output (issue 14)
  await page.getByRole("link", { name: "New strategy" }).click();
  const first = page.locator("fieldset.rules").nth(0);
  await first.getByLabel("Indicator", { exact: true }).selectOption("bbands");
  for (const name of ["Period", "Std devs up", "Std devs down", "MA type", "Output", "Source"]) await first.getByLabel(name, { exact: true }).waitFor();
  assert.equal(await first.getByLabel("MA type", { exact: true }).inputValue(), "0");
  assert.match(await first.getByLabel("MA type", { exact: true }).locator("option:checked").textContent(), /SMA/);
  await page.getByLabel("Direction").selectOption("both"); // long and short: the short side's rules appear
  await page.locator("fieldset.rules", { has: page.locator("legend", { hasText: "Short entry rules" }) }).waitFor();
  await shot("02b-rule-builder-catalogue");
  await first.getByLabel("Indicator", { exact: true }).selectOption("aroon");
  await first.getByLabel("Output", { exact: true }).selectOption("aroonup");
  // a series parameter: mavp whose periods are aroon's up line, the JSON the API test posts (201)
  await first.getByRole("button", { name: "Add condition" }).click();
  const mavp = first.locator(".condition").nth(1);
  await mavp.getByLabel("Indicator", { exact: true }).selectOption("mavp");
  await mavp.getByLabel("Periods from", { exact: true }).selectOption("indicator");
  await mavp.getByLabel("Periods indicator", { exact: true }).selectOption("aroon");
  await mavp.getByLabel("Periods period", { exact: true }).fill("10");
  await mavp.getByLabel("Periods output", { exact: true }).selectOption("aroonup");
  await mavp.getByLabel("Max period", { exact: true }).fill("50");
  await mavp.getByLabel("Comparator", { exact: true }).selectOption("<");
  await shot("02c-rule-builder-mavp");
  await page.getByLabel("JSON mode").check();
  const built = JSON.parse(await page.getByLabel("Strategy JSON").inputValue());
  assert.deepEqual(built.entry_rules.conditions[0].params, { period: 14, output: "aroonup" }, "aroon's up line chosen");
  const mavpRules = JSON.parse(readFileSync(path.join(HERE, "..", "test", "fixtures", "mavp-entry-rules.json"), "utf8"));
  assert.deepEqual(built.entry_rules.conditions[1], mavpRules.conditions[0], "mavp with periods from aroon, as the API accepts it");
  assert.equal(built.config.direction, "both");
  assert.deepEqual(built.short_entry_rules, { operator: "and", conditions: [] });
  step("rule builder: bbands' std devs and MA type labelled, aroon's aroonup selectable, mavp's periods from an indicator, short rules for both directions");

  // ---------------------------------------------------------------- run, live progress
  await page.getByRole("link", { name: "Backtests", exact: true }).first().click();
  await page.getByRole("button", { name: "Run backtest" }).waitFor();
  await page.evaluate(() => (window.__notReloaded = true));
  const row = await runBacktest("1h");
  const seen = new Set();
  const progress = row.getByRole("progressbar");
  for (let i = 0; i < 600 && !seen.has(100); i++) {
    seen.add(Number(await progress.getAttribute("value")));
    await page.waitForTimeout(50);
  }
  assert.ok(seen.has(100), `progress seen: ${[...seen]}`);
  await row.locator(".status", { hasText: "completed" }).waitFor();
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the progress arrived without a reload");
  await shot("03-backtests");
  step(`progress live: ${[...seen].sort((a, b) => a - b).join(" → ")}`);

  // ---------------------------------------------------------------- the backtest
  await row.getByRole("link").click();
  await page.getByRole("heading", { name: "Trades", exact: true }).waitFor();
  for (const label of ["Price chart", "Equity curve", "Drawdown"]) {
    const pixels = await drawnPixels(label);
    assert.ok(pixels > 200, `${label}: ${pixels} drawn pixels`);
  }
  // README-sized: the summary, the long/short table and the price chart
  await page.screenshot({ path: path.join(ARTIFACTS, "04-backtest-top.png"), fullPage: true, clip: { x: 0, y: 0, width: 1360, height: 1700 }, style: HIDE_TOAST });
  const backtestId = page.url().split("/").pop();
  const listed = await api(`/backtests/${backtestId}/trades?per_page=1`);
  const count = page.locator(".trade-count");
  await count.filter({ hasText: "trades" }).waitFor();
  assert.equal(Number(await count.getAttribute("data-count")), listed.meta.total_count);
  assert.ok(listed.meta.total_count > 0, "the sample data gives trades");
  assert.equal(await page.locator("table.trades tbody tr").count(), Math.min(50, listed.meta.total_count));
  const header = (name) => page.locator("table.trades thead th").filter({ hasText: new RegExp(`^${name}$`) });
  for (const column of ["Fees", "Bars", "MAE %", "MFE %"]) assert.equal(await header(column).count(), 1, `a ${column} column`);
  // no take-profit levels, no funding on the sample data: neither a leg nor a funding column (issue 16)
  for (const column of ["Leg", "Funding"]) assert.equal(await header(column).count(), 0, `no ${column} column`);
  const cards = await page.locator(".summary-card").count();
  const summary = (await api(`/backtests/${backtestId}`)).performance_summary;
  const scalars = Object.keys(summary).filter((field) => typeof summary[field] !== "object" || summary[field] === null);
  assert.equal(cards, scalars.length + 1, "a card per summary number + the final balance");
  assert.equal(await page.locator('.summary-card[data-known="false"]').count(), 0, "every summary field has its label and unit");
  for (const field of ["ambiguous_bars", "funding_paid", "skipped_orders", "commission_paid", "average_trade_duration"]) {
    assert.equal(await page.locator(`.summary-card[data-field="${field}"]`).count(), 1, `a ${field} card`);
  }
  assert.match(await page.locator('.summary-card[data-field="average_trade_duration"] strong').textContent(), /^(—|\d+ (d|h|min|s)( \d+ (h|min|s))?)$/);
  const sides = page.getByRole("table", { name: "Long and short trades" });
  assert.deepEqual(await sides.locator("thead th").allTextContents(), ["Metric", "Long", "Short"]);
  const closedRow = sides.locator("tbody tr").filter({ has: page.locator("th", { hasText: "Closed trades" }) });
  assert.deepEqual(await closedRow.locator("td").allTextContents(), [String(summary.long.trades), String(summary.short.trades)]);
  const full = await api(`/backtests/${backtestId}`);
  const curve = await api(`/backtests/${backtestId}/equity?points=40`);
  assert.ok(curve.meta.points <= 40 && curve.meta.total_points > 40, JSON.stringify(curve.meta));
  assert.equal(curve.data.at(-1).equity, full.final_balance, "the last point is the final balance");
  assert.equal(Math.max(...curve.data.map((p) => p.drawdown_percentage)), summary.max_drawdown_percentage, "the served points keep the maximum drawdown");
  step(`charts drawn; ${listed.meta.total_count} trades, as the API says; a 40-point curve keeps the final balance and max drawdown`);

  const redirects = [];
  const s3Requests = [];
  const recordRedirect = (response) => response.status() === 303 && redirects.push(response.headers().location);
  const recordS3 = (request) => request.url().startsWith(stack.aws) && s3Requests.push(request.allHeaders());
  page.on("response", recordRedirect);
  page.on("request", recordS3);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
  page.off("response", recordRedirect);
  page.off("request", recordS3);
  // S3 refuses a request with two authentications: the browser must drop the API's bearer token.
  assert.ok(s3Requests.length >= 1, "the browser fetched the CSV from the results bucket");
  for (const headers of await Promise.all(s3Requests)) assert.equal(headers.authorization, undefined, "no Authorization to S3");
  const csv = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
  assert.equal(redirects.length, 1, "the API answered the download with a redirect");
  assert.ok(redirects[0].startsWith(`${stack.aws}/`) && redirects[0].includes("X-Amz-Signature="), `presigned S3 URL: ${redirects[0]}`);
  assert.equal(csv.length - 1, listed.meta.total_count, "one CSV row per trade");
  assert.deepEqual(csv[0].split(","), Object.keys(listed.data[0]), "the CSV's columns are the JSON fields");
  assert.equal(csv[1].split(",")[0], listed.data[0].id);
  step(`CSV: ${csv.length - 1} rows, through a 303 to the results bucket's presigned URL`);

  await page.getByLabel("Side").selectOption("long");
  const longs = await api(`/backtests/${backtestId}/trades?per_page=1&side=long`);
  await count.filter({ hasText: `${longs.meta.total_count} trades` }).waitFor();
  await page.getByLabel("Side").selectOption("");
  await count.filter({ hasText: `${listed.meta.total_count} trades` }).waitFor();

  await page.getByRole("button", { name: "Show trade 1 on the chart" }).click();
  await page.locator(".chart-note", { hasText: /[1-9]\d* trade markers in view/ }).waitFor();
  await page.waitForTimeout(600);
  await shot("04-backtest");
  step("a trade click scrolls the chart to it, with its markers");

  await page.getByRole("button", { name: "Run Monte Carlo" }).click();
  await page.getByText(/Probability of ruin/).waitFor({ timeout: 30_000 });
  const bands = await page.getByRole("img", { name: /^Monte Carlo equity bands over \d+ trades$/ }).locator("polyline").getAttribute("points");
  assert.ok(bands && bands.split(" ").length > 1, "the median band is drawn");
  assert.equal(await page.getByRole("table", { name: "Monte Carlo percentiles" }).locator("tbody tr").count(), 3);
  step("Monte Carlo percentiles and bands shown");

  // ---------------------------------------------------------------- partial exits (issue 16)
  const strategy = (await api("/strategies?per_page=100")).data.find((s) => s.name === "E2E SMA cross");
  const definition = await api(`/strategies/${strategy.id}`);
  const partial = await apiSend("POST", "/strategies", {
    name: "E2E take-profit levels", entry_rules: definition.entry_rules, exit_rules: definition.exit_rules,
    config: { ...definition.config, take_profit_levels: [{ percent: 0.5, size: 50 }] },
  });
  const run = await apiSend("POST", "/backtests", {
    strategy_id: partial.id, symbol: "BTCUSDT", timeframe: "1h", start_time: full.start_time, end_time: full.end_time, initial_balance: 10000,
    metadata: { leverage: 1, commission: 0.1 },
  });
  assert.equal((await completed(run.id)).status, "completed");
  await page.goto(`${stack.web}/#/backtests/${run.id}`);
  await page.getByRole("heading", { name: "Trades", exact: true }).waitFor();
  await page.locator("table.trades tbody tr").first().waitFor();
  assert.equal(await header("Leg").count(), 1, "a Leg column for take-profit levels");
  assert.equal(await header("Funding").count(), 0, "no funding charged: no Funding column");
  const partialSummary = (await api(`/backtests/${run.id}`)).performance_summary;
  for (const field of ["ambiguous_bars", "skipped_orders"]) {
    assert.equal(await page.locator(`.summary-card[data-field="${field}"] strong`).textContent(), partialSummary[field].toLocaleString("en-US"), `the ${field} card`);
  }
  const legs = await api(`/backtests/${run.id}/trades?per_page=50`);
  const secondLegs = legs.data.filter((t) => t.leg === 2).length;
  assert.ok(secondLegs > 0, "some positions closed in two legs");
  const legIndex = (await page.locator("table.trades thead th").allTextContents()).indexOf("Leg");
  const shownLegs = await page.locator("table.trades tbody tr").evaluateAll((rows, i) => rows.map((row) => row.children[i].textContent), legIndex);
  assert.deepEqual(shownLegs, legs.data.map((t) => String(t.leg)), "each row shows its leg");
  await page.locator("section.trades-section").screenshot({ path: path.join(ARTIFACTS, "04b-partial-exits.png"), style: HIDE_TOAST });
  step(`take-profit levels: ${secondLegs} second legs on the first page, each row its leg`);

  // ---------------------------------------------------------------- compare two
  await page.getByRole("link", { name: "Backtests", exact: true }).first().click();
  const second = await runBacktest("4h");
  await second.locator(".status", { hasText: "completed" }).waitFor({ timeout: 60_000 });
  await page.getByRole("link", { name: "Compare" }).click();
  const boxes = page.getByRole("checkbox", { name: /^Compare E2E SMA cross/ });
  await boxes.nth(1).waitFor();
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await page.getByRole("button", { name: "Compare", exact: true }).click();
  assert.ok((await drawnPixels("Equity curves normalised to 100")) > 200);
  const headers = await page.locator("table.metrics thead th").count();
  assert.equal(headers, 3, "metric + two backtests");
  await shot("05-compare");
  step("two backtests compared");

  // ---------------------------------------------------------------- the other pages draw
  await page.getByRole("link", { name: "Market data" }).click();
  assert.ok((await drawnPixels("Live price chart")) > 200, "the live chart shows the stored candles");
  await page.getByRole("cell", { name: "BTCUSDT", exact: true }).waitFor();
  await shot("06-market-data");
  // funding rates imported through the page (8-hourly, 0.01 %), then a backtest charged them (issue 16)
  const eightHours = 8 * 3_600_000;
  const from = Math.floor(Date.parse(full.start_time) / eightHours) * eightHours - 3 * eightHours;
  const rates = Array.from({ length: Math.ceil((Date.parse(full.end_time) - from) / eightHours) + 4 }, (_, i) => `${new Date(from + i * eightHours).toISOString()},0.0001`);
  await page.getByLabel("Symbol", { exact: true }).first().fill("BTCUSDT");
  await page.getByLabel("Timeframe", { exact: true }).first().selectOption("funding");
  await page.getByLabel("Candles file").setInputFiles({ name: "funding.csv", mimeType: "text/csv", buffer: Buffer.from(`time,rate\n${rates.join("\n")}\n`) });
  await page.getByRole("button", { name: "Import file" }).click();
  await page.getByText(new RegExp(`^completed: ${rates.length} rows imported`)).waitFor({ timeout: 60_000 });
  step(`${rates.length} funding rates imported from a file, with progress`);
  const funded = await apiSend("POST", "/backtests", {
    strategy_id: strategy.id, symbol: "BTCUSDT", timeframe: "1h", start_time: full.start_time, end_time: full.end_time, initial_balance: 10000,
    metadata: { leverage: 1, commission: 0.1, funding: true },
  });
  const fundedRun = await completed(funded.id);
  assert.equal(fundedRun.status, "completed", JSON.stringify(fundedRun.error));
  assert.ok(fundedRun.performance_summary.funding_paid > 0, "longs paid funding");
  await page.goto(`${stack.web}/#/backtests/${funded.id}`);
  await page.locator("table.trades tbody tr").first().waitFor();
  assert.equal(await header("Funding").count(), 1, "a Funding column for a backtest charged funding");
  const money = (value) => `${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} USDT`;
  const fundedTrades = await api(`/backtests/${funded.id}/trades?per_page=50`);
  const fundingIndex = (await page.locator("table.trades thead th").allTextContents()).indexOf("Funding");
  const shownFunding = await page.locator("table.trades tbody tr").evaluateAll((rows, i) => rows.map((row) => row.children[i].textContent), fundingIndex);
  assert.deepEqual(shownFunding, fundedTrades.data.map((t) => money(t.funding)), "each trade's funding");
  assert.equal(await page.locator('.summary-card[data-field="funding_paid"] strong').textContent(), money(fundedRun.performance_summary.funding_paid));
  step(`a funding backtest: ${money(fundedRun.performance_summary.funding_paid)} paid, each trade's funding shown`);
  // a sweep of a parametrised strategy (made over the API), its heatmap, a row run as a backtest
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("backtest-session")).token);
  const cross = (direction) => ({ indicator: "sma", params: { period: "$fast" }, comparator: direction, value: { indicator: "sma", params: { period: "$slow" } } });
  const created = await fetch(`${stack.api}/api/v1/strategies`, {
    method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "E2E sweep", entry_rules: { conditions: [cross("crosses_above")] }, exit_rules: { conditions: [cross("crosses_below")] }, config: { parameters: { fast: 5, slow: 20 } } }),
  });
  assert.equal(created.status, 201);
  await page.getByRole("link", { name: "Optimizations" }).click();
  await page.getByRole("heading", { name: "Walk-forwards" }).waitFor();
  const sweepRanges = async () => {
    await page.getByLabel("Strategy", { exact: true }).selectOption({ label: "E2E sweep" });
    await page.getByLabel("fast stop").fill("9");
    await page.getByLabel("fast step").fill("2");
    await page.getByLabel("slow start").fill("20");
    await page.getByLabel("slow stop").fill("30");
    await page.getByLabel("slow step").fill("5");
  };
  // a walk-forward of the same ranges first (it runs while the sweep below does): 10-day train, 5-day test windows
  await sweepRanges();
  await page.getByLabel("Train window").fill("10d");
  await page.getByLabel("Test window").fill("5d");
  await page.getByRole("button", { name: "Run walk-forward" }).click();
  await page.locator("article.walk-forward").first().waitFor();
  await sweepRanges();
  await page.getByLabel("Constraints").fill("fast < slow"); // every one of the 3 x 3 meets it
  await page.getByRole("button", { name: "Estimate" }).click();
  await page.getByText(/^9 combinations in \d+ batch(es)?, \d[\d,]* bars each; on AWS/).waitFor();
  step(`dry run: ${await page.getByText(/^9 combinations in/).textContent()}`);
  await page.getByRole("button", { name: "Run optimization" }).click();
  await page.getByRole("table", { name: /^Results, best first/ }).waitFor({ timeout: 90_000 });
  const heat = page.locator("table.heatmap tbody tr");
  assert.equal(await heat.count(), 3, "slow 20, 25, 30 as rows");
  assert.equal(await page.locator("table.results tbody tr").count(), 9, "3 x 3 combinations ranked");
  // the robustness of the best row: run as a backtest, its trades resampled (issue 17)
  await page.getByLabel("Result", { exact: true }).selectOption("1");
  await page.getByRole("button", { name: "Monte Carlo of this result" }).click();
  const resultBands = page.getByRole("img", { name: /^Monte Carlo equity bands over \d+ trades$/ });
  await resultBands.waitFor({ timeout: 90_000 });
  assert.ok((await resultBands.locator("polyline").getAttribute("points")).split(" ").length > 1, "the result's median band is drawn");
  assert.equal(await page.getByRole("table", { name: "Monte Carlo percentiles" }).locator("tbody tr").count(), 3);
  await page.getByRole("heading", { name: "Monte Carlo of rank 1" }).scrollIntoViewIfNeeded();
  await shot("07-optimization");
  step("a 3 x 3 sweep ranked, its heatmap drawn, rank 1's Monte Carlo bands on the optimization page");
  await page.getByRole("button", { name: "Run rank 1 as a backtest" }).click();
  await page.getByRole("heading", { name: /E2E sweep \(fast=/ }).waitFor();
  step("rank 1 run as a backtest (the one its Monte Carlo ran)");
  // the walk-forward's windows, its out-of-sample equity and parameter stability
  await page.getByRole("link", { name: "Optimizations" }).click();
  const windows = page.getByRole("table", { name: /^Windows of the walk-forward/ });
  await windows.waitFor({ timeout: 120_000 });
  const walkForward = (await api("/walk_forwards")).data[0];
  const walkResult = (await api(`/walk_forwards/${walkForward.id}`)).result;
  assert.equal(await windows.locator("tbody tr").count(), walkResult.windows.length, "a row per window");
  assert.ok(walkResult.windows.length >= 2, `windows: ${walkResult.windows.length}`);
  assert.equal(await page.getByRole("img", { name: "Out-of-sample equity" }).locator("polyline").count(), 1);
  assert.equal(await page.getByRole("table", { name: "Parameter stability across windows" }).locator("tbody tr").count(), 2, "fast and slow");
  await page.locator("article.walk-forward").first().scrollIntoViewIfNeeded();
  await shot("09-walk-forward");
  step(`a walk-forward of ${walkResult.windows.length} windows shown with its out-of-sample equity`);
  // transactions: a file of two fills imported, then replayed beside a 2 % stop / 4 % target
  await page.getByRole("link", { name: "Transactions" }).click();
  const hour = 3_600_000;
  const at = (hoursAgo) => new Date(Math.floor(Date.now() / hour) * hour - hoursAgo * hour).toISOString();
  const fills = `time,symbol,side,price,quantity,fee,id\n${at(240)},BTCUSDT,buy,15000,0.1,1.5,e2e-1\n${at(120)},BTCUSDT,sell,15300,0.1,1.53,e2e-2\n`;
  await page.getByLabel("Transactions file").setInputFiles({ name: "fills.csv", mimeType: "text/csv", buffer: Buffer.from(fills) });
  await page.getByRole("button", { name: "Import transactions" }).click();
  await page.locator(".import-progress", { hasText: "completed: 2 imported" }).waitFor({ timeout: 60_000 });
  await page.getByRole("checkbox", { name: "Select transaction e2e-1" }).waitFor();
  await page.getByRole("checkbox", { name: "Select transaction e2e-1" }).check();
  await page.getByRole("checkbox", { name: "Select transaction e2e-2" }).check();
  await page.getByRole("button", { name: "Replay with alternatives" }).click();
  const trips = page.getByRole("table", { name: "Round trips" });
  await trips.waitFor({ timeout: 90_000 });
  assert.equal(await trips.locator("tbody tr").count(), 1, "one round trip");
  await shot("08-replay");
  step("two fills imported and replayed beside an alternative exit");
  step("market data, optimizations and transactions pages render");

  // ---------------------------------------------------------------- edit and delete, sign out and in, a 401
  await page.getByRole("link", { name: "Strategies" }).click();
  await page.getByRole("link", { name: "E2E take-profit levels", exact: true }).click();
  await page.getByRole("heading", { name: "Edit E2E take-profit levels" }).waitFor();
  assert.equal(await page.locator("fieldset.rules").nth(0).getByLabel("Period", { exact: true }).inputValue(), "10", "the builder shows the stored rule");
  await page.getByLabel("Name", { exact: true }).fill("E2E take-profit levels, edited");
  await page.getByRole("button", { name: "Save strategy" }).click();
  await page.getByRole("cell", { name: "E2E take-profit levels, edited", exact: true }).waitFor();
  const edited = await api(`/strategies/${partial.id}`);
  assert.deepEqual(edited.config.take_profit_levels, [{ percent: 0.5, size: 50 }], "what the builder has no control for is kept");
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByRole("button", { name: "Delete E2E take-profit levels, edited" }).click();
  await page.getByRole("cell", { name: "E2E take-profit levels, edited", exact: true }).waitFor({ state: "detached" });
  await page.getByRole("link", { name: "Backtests", exact: true }).first().click();
  const fourHour = page.getByRole("button", { name: "Delete E2E SMA cross BTCUSDT 4h" });
  page.once("dialog", (dialog) => void dialog.accept());
  await fourHour.click();
  await fourHour.waitFor({ state: "detached" });
  step("a strategy edited (its take-profit levels kept) and deleted, a backtest deleted");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Backtests", exact: true }).waitFor();
  await page.evaluate(() => {
    const session = JSON.parse(sessionStorage.getItem("backtest-session"));
    sessionStorage.setItem("backtest-session", JSON.stringify({ ...session, token: "expired-or-revoked" }));
  });
  await page.getByRole("link", { name: "Strategies" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  step("signed out, signed in again; a 401 returns to sign in");

  assert.deepEqual(problems, [], "no page errors");
  step("passed");
} catch (error) {
  await shot("failure").catch(() => undefined);
  console.error(error);
  console.error(problems.join("\n"));
  console.error(stack.log().slice(-4000));
  process.exitCode = 1;
} finally {
  await context.close();
  await stack.stop();
  rmSync(profile, { recursive: true, force: true });
}
