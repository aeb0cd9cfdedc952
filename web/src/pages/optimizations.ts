/** Optimizations: sweep a strategy's `config.parameters`, follow the progress live, rank the
 * results, map any two parameters as a heatmap, open the best ranks' trades and equity (kept in
 * full), run any result as a backtest. */
import type { Api, Backtest, Optimization, OptimizationResult, Strategy } from "../api";
import { monteCarloSection } from "../components/monteCarlo";
import { waitFor } from "../logic/polling";
import type { App, Page } from "../app";
import { runFields } from "../components/runFields";
import { button, h, input, labelled, select, table, toast } from "../dom";
import { formStatus, submitting } from "../forms";
import { duration, formatValue, label, quoteAsset, SUMMARY_FIELDS, time, unitOf } from "../logic/format";
import { heatmap } from "../logic/series";
import { withParameters } from "../logic/rules";
import { walkForwardsSection } from "../components/walkForwards";
import { fullResultHref } from "../logic/fullResults";
import { tradeColumns, tradeTableOptions, TRADE_HEADERS } from "../logic/trades";
import { EQUITY_POINTS, equityCharts, tradeCells } from "./backtest";

/** Any numeric summary metric can rank a sweep (the API picks its direction: drawdowns and costs
 * are minimised); the usual ones first. */
const FIRST_OBJECTIVES = ["sharpe_ratio", "sortino_ratio", "total_pnl", "total_pnl_percentage", "profit_factor", "cagr", "calmar_ratio", "max_drawdown_percentage"];
export const OBJECTIVES: string[] = [...new Set([...FIRST_OBJECTIVES, ...Object.keys(SUMMARY_FIELDS)])];

const ACTIVE = new Set(["pending", "running"]);

export const optimizationsPage: Page = async (app, root) => {
  const [strategies, symbols, listing] = await Promise.all([app.api.strategies(), app.api.symbols(), app.api.optimizations()]);
  const fields = runFields(app, strategies.data, symbols.data);
  const sweep = h("fieldset", { class: "config" }, h("legend", {}, "Parameters to sweep"));
  const ranges = new Map<string, HTMLInputElement[]>();
  const objective = select(OBJECTIVES.map((name) => [name, label(name)] as [string, string]), "sharpe_ratio");
  const maxCombinations = input({ type: "number", value: "500", min: "1", max: "100000" });
  // the search (issue 17): every combination, a seeded sample of them, or Optuna's TPE in rounds
  const method = select([["grid", "Grid (every combination)"], ["random", "Random (n trials)"], ["bayesian", "Bayesian (TPE)"]], "grid");
  const trials = input({ type: "number", min: "1", placeholder: "n_trials", size: 6 });
  const batchSize = input({ type: "number", min: "1", placeholder: "10", size: 6 });
  const seed = input({ type: "number", min: "0", placeholder: "0", size: 6 });
  const direction = select([["", "the metric's default"], ["max", "max"], ["min", "min"]], "");
  const constraints = input({ type: "text", placeholder: "fast < slow; slow - fast >= 5", size: 28 });
  const minTrades = input({ type: "number", min: "0", value: "0", size: 6 });
  const estimate = h("p", { class: "muted", "aria-live": "polite" });
  const status = formStatus();
  const showParameters = async () => {
    ranges.clear();
    sweep.replaceChildren(h("legend", {}, "Parameters to sweep"));
    if (!fields.strategy.value) return;
    const strategy = await app.api.strategy(fields.strategy.value);
    const parameters = (strategy.config.parameters ?? {}) as Record<string, number>;
    if (!Object.keys(parameters).length) sweep.append(h("p", { class: "muted" }, "This strategy has no config.parameters: reference them in its rules as $name to sweep them."));
    for (const [name, value] of Object.entries(parameters)) {
      const controls = [value, value * 2, Math.max(1, Math.round(value / 2))].map((v) => input({ type: "number", step: "any", value: String(v), size: 6 }));
      ranges.set(name, controls);
      sweep.append(h("div", { class: "row" }, ...["start", "stop", "step"].map((part, i) => labelled(`${name} ${part}`, controls[i], `parameters.${name}`))));
    }
  };
  fields.strategy.addEventListener("change", () => void showParameters());
  await showParameters();
  // A walk-forward sweeps the same ranges on each train window and trades the best on the next test window.
  const train = input({ type: "text", value: "10d", size: 6 });
  const test = input({ type: "text", value: "5d", size: 6 });
  const step = input({ type: "text", value: "", placeholder: "= test", size: 6 });
  const anchored = input({ type: "checkbox" });
  const walkForward = h("fieldset", { class: "config" }, h("legend", {}, "Walk-forward (optional)"),
    h("p", { class: "muted" }, "Optimise on each train window, trade the best on the test window after it, step forward; durations in m, h, d or w."),
    h("div", { class: "row" }, labelled("Train window", train, "train"), labelled("Test window", test, "test"), labelled("Step", step, "step"), labelled("Anchored", anchored, "anchored")));
  const form = h("form", { class: "card", "aria-labelledby": "optimize-title" },
    h("h2", { id: "optimize-title" }, "Create a sweep"),
    fields.element, sweep,
    h("div", { class: "row" }, labelled("Objective", objective, "objective"), labelled("Direction", direction, "direction"), labelled("Max combinations", maxCombinations, "max_combinations"),
      labelled("Min trades", minTrades, "min_trades")),
    h("div", { class: "row" }, labelled("Method", method, "method"), labelled("Trials", trials, "n_trials"), labelled("Batch size", batchSize, "batch_size"),
      labelled("Seed", seed, "seed"), labelled("Constraints", constraints, "constraints")),
    walkForward,
    status, estimate,
    h("div", { class: "row" }, h("button", { type: "submit", value: "sweep" }, "Run optimization"), " ", h("button", { type: "submit", value: "estimate", class: "secondary" }, "Estimate"),
      " ", h("button", { type: "submit", value: "walk_forward", class: "secondary" }, "Run walk-forward")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = ((event as SubmitEvent).submitter as HTMLButtonElement | null)?.value ?? "sweep";
    void submitting(form, status, async () => {
      const parameters = Object.fromEntries([...ranges].map(([name, [start, stop, step]]) => [name, { start: Number(start.value), stop: Number(stop.value), step: Number(step.value) }]));
      const number = (control: HTMLInputElement) => (control.value.trim() === "" ? undefined : Number(control.value));
      const rules = constraints.value.split(";").map((c) => c.trim()).filter(Boolean);
      const body = {
        ...fields.values(), parameters, objective: objective.value, method: method.value, min_trades: number(minTrades) ?? 0,
        ...(direction.value ? { direction: direction.value } : {}), ...(rules.length ? { constraints: rules } : {}),
        ...(method.value !== "grid" ? { n_trials: number(trials), seed: number(seed) } : {}),
        ...(method.value === "bayesian" && number(batchSize) !== undefined ? { batch_size: number(batchSize) } : {}),
      };
      estimate.textContent = "";
      if (kind === "estimate") {
        const e = await app.api.estimateOptimization({ ...body, max_combinations: Number(maxCombinations.value), dry_run: true });
        const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : word.endsWith("h") ? "es" : "s"}`;
        estimate.textContent = `${plural(e.combination_count, "combination")} in ${plural(e.batch_count, "batch")}${e.rounds > 1 ? ` over ${e.rounds} rounds` : ""}, `
          + `${e.bars.toLocaleString("en-US")} bars each; on AWS ≈ ${e.lambda_gb_seconds.toLocaleString("en-US", { maximumFractionDigits: 1 })} GB-s, `
          + `$${e.estimated_cost_usd.toFixed(4)}, ${e.eta_seconds < 1 ? "under 1 s" : duration(e.eta_seconds)} at ${e.concurrency} batches at once`;
        return;
      }
      if (kind === "walk_forward") {
        await app.api.createWalkForward({ ...body, train: train.value.trim(), test: test.value.trim(), ...(step.value.trim() ? { step: step.value.trim() } : {}), anchored: anchored.checked });
        toast("Walk-forward queued");
        app.navigate("#/optimizations");
        return;
      }
      const created = await app.api.createOptimization({ ...body, max_combinations: Number(maxCombinations.value) });
      app.navigate(`#/optimizations/${created.id}`);
    });
  });
  const rows = listing.data.map((o) => {
    const bar = h("progress", { max: 100, value: o.progress, "aria-label": `Progress of optimization ${time(String(o.created_at))}` });
    return { o, bar, cells: [h("a", { href: `#/optimizations/${o.id}` }, String(o.strategy_name)), `${o.symbol} ${o.timeframe}`, label(String(o.objective)), String(o.combination_count), h("span", { class: "status" }, o.status), bar] };
  });
  const walkForwards = await walkForwardsSection(app.api);
  root.append(h("h1", {}, "Optimizations"), form, table("Your optimizations", ["Strategy", "Market", "Objective", "Combinations", "Status", "Progress"], rows.map((r) => r.cells)),
    walkForwards.element);
  const leave = app.live.join(`user:${app.session.user?.id}`, (event) => {
    if (event.event !== "optimization:status_update") return;
    const data = event.data as { optimization_id: string; status: string; progress: number };
    const row = rows.find((r) => r.o.id === data.optimization_id);
    if (!row) return;
    row.bar.value = data.progress;
    (row.cells[4] as HTMLElement).textContent = data.status;
  });
  return () => (leave(), walkForwards.stop());
};

export const optimizationPage: Page = async (app, root, params) => {
  const optimization = await app.api.optimization(params.id);
  root.append(h("h1", {}, `Optimization · ${optimization.strategy_name} · ${optimization.symbol} ${optimization.timeframe}`),
    h("p", { class: "muted" }, `${optimization.combination_count} combinations, ranked by ${label(String(optimization.objective))}`));
  if (ACTIVE.has(optimization.status)) {
    const bar = h("progress", { max: 100, value: optimization.progress, "aria-label": "Optimization progress" });
    const state = h("p", { class: "status", "aria-live": "polite" }, optimization.status);
    root.append(h("section", { class: "card" }, h("h2", {}, "Progress"), bar, state));
    return app.live.join(`user:${app.session.user?.id}`, (event) => {
      const data = event.data as { optimization_id?: string; status?: string; progress?: number };
      if (event.event !== "optimization:status_update" || data.optimization_id !== optimization.id) return;
      bar.value = data.progress ?? Number(bar.value);
      state.textContent = data.status ?? "";
      if (data.status === "completed" || data.status === "failed") app.navigate(`#/optimizations/${optimization.id}`);
    });
  }
  if (optimization.status !== "completed") {
    root.append(h("p", { class: "error" }, `This optimization ${optimization.status}: ${String(optimization.error ?? "")}`));
    return;
  }
  const results = await allResults(app.api, optimization.id);
  const runs = new ResultRuns(app, optimization);
  root.append(heatmapSection(optimization, results), resultsTable(app, runs, optimization, results), monteCarloOfResult(app, runs, results));
};

async function allResults(api: Api, id: string): Promise<OptimizationResult[]> {
  const first = await api.optimizationResults(id, { page: 1 });
  const rest = await Promise.all(Array.from({ length: Math.min(first.meta.total_pages, 100) - 1 }, (_, i) => api.optimizationResults(id, { page: i + 2 })));
  return [first, ...rest].flatMap((page) => page.data);
}

function resultsTable(app: App, runs: ResultRuns, optimization: Optimization, results: OptimizationResult[]): HTMLElement {
  const names = Object.keys(results[0]?.params ?? {});
  const currency = quoteAsset(String(optimization.symbol));
  const shown = ["total_pnl", "max_drawdown_percentage", "win_rate", "total_trades"];
  const runAsBacktest = async (result: OptimizationResult) => {
    const backtest = await runs.backtest(result);
    toast("Backtest queued");
    app.navigate(`#/backtests/${backtest.id}`);
  };
  return h("section", {}, h("h2", {}, "Ranked results"), table("Results, best first", ["Rank", ...names, label(String(optimization.objective)), "Final balance", ...shown.map(label), "In full", ""],
    results.slice(0, 200).map((result) => [
      String(result.rank), ...names.map((n) => String(result.params[n])),
      formatValue(result.objective_value as number | null, unitOf(String(optimization.objective)), currency),
      formatValue(result.final_balance as number | null, "money", currency),
      ...shown.map((field) => formatValue(result.performance_summary[field] ?? null, unitOf(field), currency)),
      fullResultLink(optimization.id, result.rank),
      button("Run as backtest", () => void runAsBacktest(result).catch((error: Error) => toast(error.message)), { "aria-label": `Run rank ${result.rank} as a backtest` }),
    ]), { class: "results" }));
}

function fullResultLink(optimizationId: string, rank: number | undefined): HTMLElement | string {
  const href = fullResultHref(optimizationId, rank);
  return href ? h("a", { href, "aria-label": `Trades and equity of rank ${rank}` }, "Trades & equity") : "";
}

const TRADES_PER_PAGE = 50;

/** One of a sweep's best ranks in full: its row, equity vs buy-and-hold, its trades by page. */
export const optimizationResultPage: Page = async (app, root, params) => {
  const rank = Number(params.rank);
  const [optimization, first] = await Promise.all([
    app.api.optimization(params.id),
    app.api.optimizationFullResult(params.id, rank, { page: 1, per_page: TRADES_PER_PAGE, points: EQUITY_POINTS }),
  ]);
  const currency = quoteAsset(String(optimization.symbol));
  const objective = String(optimization.objective);
  const values = Object.entries(first.params).map(([k, v]) => `${k}=${v}`).join(", ");
  const equity = equityCharts(first.equity);
  const holder = h("div", { class: "scroll" });
  const pager = h("nav", { class: "pager", "aria-label": "Trades pages" });
  const count = h("p", { class: "trade-count", "aria-live": "polite" });
  const cells = tradeCells(currency);
  // the columns the backtest of this combination shows (legs of partial exits; an optimization has no funding)
  const columns = tradeColumns(tradeTableOptions(null, null, first.performance_summary, first.trades.data.some((t) => (t.leg ?? 1) > 1)));
  const show = (listing: typeof first.trades) => {
    count.textContent = `${listing.meta.total_count} trades`;
    holder.replaceChildren(table("Trades", columns.map((column) => TRADE_HEADERS[column]),
      listing.data.map((trade, i) => columns.map((column) => cells[column](trade, listing.meta.offset + i + 1))), { class: "trades" }));
    const page = listing.meta.page;
    const go = (to: number) => void app.api.optimizationFullResult(optimization.id, rank, { page: to, per_page: TRADES_PER_PAGE, points: 2 })
      .then((answer) => show(answer.trades)).catch((error: Error) => toast(error.message));
    pager.replaceChildren(
      button("Previous page", () => go(page - 1), { disabled: page <= 1 }),
      h("span", {}, `Page ${page} of ${Math.max(1, listing.meta.total_pages)}`),
      button("Next page", () => go(page + 1), { disabled: page >= listing.meta.total_pages }),
    );
  };
  show(first.trades);
  root.append(
    h("h1", {}, `Rank ${first.rank} · ${optimization.strategy_name} · ${optimization.symbol} ${optimization.timeframe}`),
    h("p", { class: "muted" }, `${values} · ${label(objective)} ${formatValue(first.objective_value, unitOf(objective), currency)} · final balance ${formatValue(first.final_balance, "money", currency)} · `,
      h("a", { href: `#/optimizations/${optimization.id}` }, "Back to the ranking")),
    equity.element,
    h("section", { class: "trades-section" }, h("h2", {}, "Trades"), count, holder, pager),
  );
  return equity.destroy;
};

/** The backtests of a sweep's rows, each made once per page: a copy of the strategy with the row's
 * parameters, run over the sweep's market and period. */
class ResultRuns {
  private readonly made = new Map<string, Promise<Backtest>>();
  constructor(private readonly app: App, private readonly optimization: Optimization) {}

  backtest(result: OptimizationResult): Promise<Backtest> {
    const key = JSON.stringify(result.params);
    let made = this.made.get(key);
    if (!made) {
      made = this.create(result);
      made.catch(() => this.made.delete(key));
      this.made.set(key, made);
    }
    return made;
  }

  private async create(result: OptimizationResult): Promise<Backtest> {
    const { api } = this.app;
    const optimization = this.optimization;
    const strategy: Strategy = await api.strategy(String(optimization.strategy_id));
    const tuned = withParameters(strategy, result.params);
    const suffix = Object.entries(result.params).map(([k, v]) => `${k}=${v}`).join(", ");
    const copy = await api.createStrategy({
      name: `${strategy.name} (${suffix})`.slice(0, 100), description: `From optimization ${optimization.id}`, strategy_type: strategy.strategy_type,
      entry_rules: tuned.entry_rules, exit_rules: tuned.exit_rules, config: tuned.config,
    });
    const metadata = (optimization.metadata ?? {}) as { leverage?: number; commission?: number };
    return api.createBacktest({
      strategy_id: copy.id, symbol: String(optimization.symbol), timeframe: String(optimization.timeframe),
      start_time: String(optimization.start_time), end_time: String(optimization.end_time), initial_balance: Number(optimization.initial_balance),
      metadata: { leverage: metadata.leverage ?? 1, commission: metadata.commission ?? 0.1 },
    });
  }
}

/** A sweep's best row is the luckiest of many: its trades resampled show how much of its result
 * the order of those trades made. The chosen row runs as a backtest (once), then Monte Carlo. */
function monteCarloOfResult(app: App, runs: ResultRuns, results: OptimizationResult[]): HTMLElement {
  const top = results.slice(0, 50);
  const describe = (r: OptimizationResult) => `Rank ${r.rank}: ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ")}`;
  const choice = select(top.map((r) => [String(r.rank), describe(r)] as [string, string]), String(top[0]?.rank ?? ""));
  const status = formStatus();
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Progress of the chosen result's backtest" });
  const holder = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "result-monte-carlo-title" },
    h("h2", { id: "result-monte-carlo-title" }, "Robustness of a result"),
    h("p", { class: "muted" }, "The best of many combinations is partly luck. Run a row as a backtest and resample its trades: the spread of final balance and drawdown, the probability of ruin, the equity bands."),
    h("div", { class: "row" }, labelled("Result", choice), h("button", { type: "submit" }, "Monte Carlo of this result")), progress, status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      const result = top.find((r) => String(r.rank) === choice.value);
      if (!result) throw new Error("Choose a result");
      holder.replaceChildren();
      progress.hidden = false;
      const queued = await runs.backtest(result);
      const done = await waitFor(() => app.api.backtest(queued.id), (b) => {
        progress.value = b.progress;
        return !ACTIVE.has(b.status);
      });
      progress.hidden = true;
      if (done.status !== "completed") throw new Error(`The backtest of rank ${result.rank} ${done.status}: ${done.error ?? ""}`);
      holder.replaceChildren(
        h("p", {}, h("a", { href: `#/backtests/${done.id}` }, `Open the backtest of rank ${result.rank}`), ` · final balance ${formatValue(done.final_balance, "money", quoteAsset(done.symbol))}`),
        monteCarloSection(app.api, done, { autoRun: true, title: `Monte Carlo of rank ${result.rank}` }),
      );
    });
  });
  return h("section", {}, form, holder);
}

function heatmapSection(optimization: Optimization, results: OptimizationResult[]): HTMLElement {
  const names = Object.keys(results[0]?.params ?? {});
  const section = h("section", {}, h("h2", {}, "Heatmap"));
  if (names.length < 2) return (section.append(h("p", { class: "muted" }, "A heatmap needs two swept parameters.")), section);
  const x = select(names, names[0]);
  const y = select(names, names[1]);
  const holder = h("div");
  const higherIsBetter = optimization.direction !== "min";
  const draw = () => {
    const map = heatmap(results.map((r) => ({ params: r.params, value: r.objective_value as number | null })), x.value, y.value, higherIsBetter);
    const finite = map.cells.flat().filter((v): v is number => v !== null);
    const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
    const colour = (v: number | null) => {
      if (v === null) return "#f6f8fa";
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      const good = higherIsBetter ? t : 1 - t;
      return `hsl(${Math.round(good * 120)}, 65%, ${88 - good * 30}%)`;
    };
    holder.replaceChildren(h("table", { class: "heatmap" },
      h("caption", {}, `${label(String(optimization.objective))} by ${x.value} (columns) and ${y.value} (rows), best value per cell`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, `${y.value} \\ ${x.value}`), ...map.xs.map((v) => h("th", { scope: "col" }, String(v))))),
      h("tbody", {}, ...map.ys.map((yv, i) => h("tr", {}, h("th", { scope: "row" }, String(yv)), ...map.cells[i].map((v) => h("td", { style: `background:${colour(v)}` }, v === null ? "—" : v.toFixed(3)))))),
    ));
  };
  x.addEventListener("change", draw);
  y.addEventListener("change", draw);
  draw();
  section.append(h("div", { class: "row" }, labelled("X parameter", x), labelled("Y parameter", y)), holder);
  return section;
}
