/** Optimizations: sweep a strategy's `config.parameters`, follow the progress live, rank the
 * results, map any two parameters as a heatmap, run a result as a backtest. */
import type { Api, Optimization, OptimizationResult, Strategy } from "../api";
import type { App, Page } from "../app";
import { runFields } from "../components/runFields";
import { button, h, input, labelled, select, table, toast } from "../dom";
import { formStatus, submitting } from "../forms";
import { formatValue, label, quoteAsset, time, unitOf } from "../logic/format";
import { heatmap } from "../logic/series";
import { withParameters } from "../logic/rules";
import { walkForwardsSection } from "../components/walkForwards";

export const OBJECTIVES: [string, boolean][] = [
  ["sharpe_ratio", true], ["sortino_ratio", true], ["total_pnl", true], ["total_pnl_percentage", true], ["profit_factor", true],
  ["win_rate", true], ["cagr", true], ["calmar_ratio", true], ["expectancy", true], ["max_drawdown", false], ["max_drawdown_percentage", false],
];

const ACTIVE = new Set(["pending", "running"]);

export const optimizationsPage: Page = async (app, root) => {
  const [strategies, symbols, listing] = await Promise.all([app.api.strategies(), app.api.symbols(), app.api.optimizations()]);
  const fields = runFields(app, strategies.data, symbols.data);
  const sweep = h("fieldset", { class: "config" }, h("legend", {}, "Parameters to sweep"));
  const ranges = new Map<string, HTMLInputElement[]>();
  const objective = select(OBJECTIVES.map(([name]) => [name, label(name)] as [string, string]), "sharpe_ratio");
  const maxCombinations = input({ type: "number", value: "500", min: "1", max: "10000" });
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
  const form = h("form", { class: "card", "aria-labelledby": "optimize-title" },
    h("h2", { id: "optimize-title" }, "Create a sweep"),
    fields.element, sweep,
    h("div", { class: "row" }, labelled("Objective", objective, "objective"), labelled("Max combinations", maxCombinations, "max_combinations")),
    status,
    h("button", { type: "submit" }, "Run optimization"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      const parameters = Object.fromEntries([...ranges].map(([name, [start, stop, step]]) => [name, { start: Number(start.value), stop: Number(stop.value), step: Number(step.value) }]));
      const created = await app.api.createOptimization({ ...fields.values(), parameters, objective: objective.value, max_combinations: Number(maxCombinations.value) });
      app.navigate(`#/optimizations/${created.id}`);
    });
  });
  const rows = listing.data.map((o) => {
    const bar = h("progress", { max: 100, value: o.progress, "aria-label": `Progress of optimization ${time(String(o.created_at))}` });
    return { o, bar, cells: [h("a", { href: `#/optimizations/${o.id}` }, String(o.strategy_name)), `${o.symbol} ${o.timeframe}`, label(String(o.objective)), String(o.combination_count), h("span", { class: "status" }, o.status), bar] };
  });
  root.append(h("h1", {}, "Optimizations"), form, table("Your optimizations", ["Strategy", "Market", "Objective", "Combinations", "Status", "Progress"], rows.map((r) => r.cells)),
    await walkForwardsSection(app.api));
  return app.live.join(`user:${app.session.user?.id}`, (event) => {
    if (event.event !== "optimization:status_update") return;
    const data = event.data as { optimization_id: string; status: string; progress: number };
    const row = rows.find((r) => r.o.id === data.optimization_id);
    if (!row) return;
    row.bar.value = data.progress;
    (row.cells[4] as HTMLElement).textContent = data.status;
  });
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
  root.append(heatmapSection(optimization, results), resultsTable(app, optimization, results));
};

async function allResults(api: Api, id: string): Promise<OptimizationResult[]> {
  const first = await api.optimizationResults(id, { page: 1 });
  const rest = await Promise.all(Array.from({ length: Math.min(first.meta.total_pages, 100) - 1 }, (_, i) => api.optimizationResults(id, { page: i + 2 })));
  return [first, ...rest].flatMap((page) => page.data);
}

function resultsTable(app: App, optimization: Optimization, results: OptimizationResult[]): HTMLElement {
  const names = Object.keys(results[0]?.params ?? {});
  const currency = quoteAsset(String(optimization.symbol));
  const shown = ["total_pnl", "max_drawdown_percentage", "win_rate", "total_trades"];
  return h("section", {}, h("h2", {}, "Ranked results"), table("Results, best first", ["Rank", ...names, label(String(optimization.objective)), "Final balance", ...shown.map(label), ""],
    results.slice(0, 200).map((result) => [
      String(result.rank), ...names.map((n) => String(result.params[n])),
      formatValue(result.objective_value as number | null, unitOf(String(optimization.objective)), currency),
      formatValue(result.final_balance as number | null, "money", currency),
      ...shown.map((field) => formatValue(result.performance_summary[field] ?? null, unitOf(field), currency)),
      button("Run as backtest", () => void runAsBacktest(app, optimization, result).catch((error: Error) => toast(error.message)), { "aria-label": `Run rank ${result.rank} as a backtest` }),
    ]), { class: "results" }));
}

/** A copy of the strategy with the row's parameters, run over the sweep's market and period. */
async function runAsBacktest(app: App, optimization: Optimization, result: OptimizationResult): Promise<void> {
  const strategy: Strategy = await app.api.strategy(String(optimization.strategy_id));
  const tuned = withParameters(strategy, result.params);
  const suffix = Object.entries(result.params).map(([k, v]) => `${k}=${v}`).join(", ");
  const copy = await app.api.createStrategy({
    name: `${strategy.name} (${suffix})`.slice(0, 100), description: `From optimization ${optimization.id}`, strategy_type: strategy.strategy_type,
    entry_rules: tuned.entry_rules, exit_rules: tuned.exit_rules, config: tuned.config,
  });
  const metadata = (optimization.metadata ?? {}) as { leverage?: number; commission?: number };
  const backtest = await app.api.createBacktest({
    strategy_id: copy.id, symbol: String(optimization.symbol), timeframe: String(optimization.timeframe),
    start_time: String(optimization.start_time), end_time: String(optimization.end_time), initial_balance: Number(optimization.initial_balance),
    metadata: { leverage: metadata.leverage ?? 1, commission: metadata.commission ?? 0.1 },
  });
  toast("Backtest queued");
  app.navigate(`#/backtests/${backtest.id}`);
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
