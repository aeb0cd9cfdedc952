/** Backtests: run one, watch every run's progress live (the user's channel), cancel, delete. */
import type { Backtest, StrategySummary } from "../api";
import type { Page } from "../app";
import { button, h, input, labelled, select, toast } from "../dom";
import { formStatus, submitting } from "../forms";
import { formatValue, quoteAsset, time } from "../logic/format";

const ACTIVE = new Set(["pending", "running"]);

export const backtestsPage: Page = async (app, root) => {
  const [strategies, backtests, symbols] = await Promise.all([
    app.api.strategies(),
    app.api.backtests({ order_by: "created_at", order_dir: "desc" }),
    app.api.symbols(),
  ]);
  const form = runForm(app, strategies.data, symbols.data);
  const rows = new Map<string, HTMLTableRowElement>();
  const tbody = h("tbody");
  const listing = h("table", { class: "backtests" },
    h("caption", {}, "Your backtests"),
    h("thead", {}, h("tr", {}, ...["Strategy", "Symbol", "Timeframe", "Period", "Status", "Progress", "Final balance", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );
  const draw = (backtest: Backtest) => {
    const row = rowOf(app, backtest, () => {
      rows.get(backtest.id)?.remove();
      rows.delete(backtest.id);
    });
    const old = rows.get(backtest.id);
    if (old) old.replaceWith(row);
    else tbody.prepend(row);
    rows.set(backtest.id, row);
  };
  [...backtests.data].reverse().forEach(draw);
  form.onCreated = draw;

  const leave = app.live.join(`user:${app.session.user?.id}`, (event) => {
    if (event.event !== "backtest:status_update") return;
    const { backtest_id, status, progress } = event.data as { backtest_id: string; status: Backtest["status"]; progress: number };
    const row = rows.get(backtest_id);
    if (!row) return void app.api.backtest(backtest_id).then(draw); // created elsewhere, or before its POST answered
    setProgress(row, status, progress);
    if (status === "completed" || status === "failed") void app.api.backtest(backtest_id).then(draw);
  });
  root.append(h("h1", {}, "Backtests"), form.element, listing);
  return leave;
};

function setProgress(row: HTMLTableRowElement, status: string, progress: number): void {
  row.querySelector(".status")!.textContent = status;
  const bar = row.querySelector("progress")!;
  if (progress >= Number(bar.value) || !ACTIVE.has(status)) bar.value = progress;
  row.querySelector(".percent")!.textContent = `${bar.value} %`;
  row.dataset.status = status;
}

function rowOf(app: Parameters<Page>[0], backtest: Backtest, removed: () => void): HTMLTableRowElement {
  const name = `${backtest.strategy_name} ${backtest.symbol} ${backtest.timeframe}`;
  const bar = h("progress", { max: 100, value: backtest.progress, "aria-label": `Progress of ${name}` });
  const actions = h("td", { class: "actions" });
  if (ACTIVE.has(backtest.status)) {
    actions.append(button("Cancel", async () => {
      await app.api.cancelBacktest(backtest.id);
      setProgress(row, "cancelled", Number(bar.value));
      toast("Backtest cancelled");
    }, { "aria-label": `Cancel ${name}` }));
  }
  actions.append(button("Delete", async () => {
    if (!confirm(`Delete the backtest of ${name}?`)) return;
    await app.api.deleteBacktest(backtest.id);
    row.remove();
    removed();
  }, { class: "secondary", "aria-label": `Delete ${name}` }));
  const row = h("tr", { "data-id": backtest.id, "data-status": backtest.status },
    h("td", {}, h("a", { href: `#/backtests/${backtest.id}` }, backtest.strategy_name)),
    h("td", {}, backtest.symbol),
    h("td", {}, backtest.timeframe),
    h("td", {}, `${time(backtest.start_time)} → ${time(backtest.end_time)}`),
    h("td", { class: "status" }, backtest.status),
    h("td", {}, bar, " ", h("span", { class: "percent" }, `${backtest.progress} %`)),
    h("td", {}, backtest.final_balance === null ? "—" : formatValue(backtest.final_balance, "money", quoteAsset(backtest.symbol))),
    actions,
  );
  return row;
}

function isoDay(value: string): string {
  return new Date(`${value}T00:00:00Z`).toISOString();
}

function runForm(app: Parameters<Page>[0], strategies: StrategySummary[], symbols: string[]) {
  const strategy = select(strategies.map((s) => [s.id, s.name] as [string, string]));
  const symbol = select(symbols, symbols[0]);
  const timeframe = select([]);
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86_400_000);
  const start = input({ type: "date", value: monthAgo.toISOString().slice(0, 10), required: true });
  const end = input({ type: "date", value: today.toISOString().slice(0, 10), required: true });
  const balance = input({ type: "number", value: "10000", min: "0", step: "any", required: true });
  const leverage = input({ type: "number", value: "1", min: "1", max: "125", step: "any" });
  const commission = input({ type: "number", value: "0.1", min: "0", max: "10", step: "any" });
  const status = formStatus();
  const loadTimeframes = async () => {
    const { data } = await app.api.timeframes(symbol.value);
    timeframe.replaceChildren(...data.map((t) => h("option", { value: t }, t)));
    timeframe.value = data.includes("1h") ? "1h" : data[0];
  };
  symbol.addEventListener("change", () => void loadTimeframes());
  if (symbols.length) void loadTimeframes();
  const handle = { element: null as unknown as HTMLFormElement, onCreated: (_: Backtest) => undefined as void };
  const form = h("form", { class: "card run", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run a backtest"),
    h("div", { class: "row" },
      labelled("Strategy", strategy, "strategy_id"),
      labelled("Symbol", symbol, "symbol"),
      labelled("Timeframe", timeframe, "timeframe"),
      labelled("Start", start, "start_time"),
      labelled("End", end, "end_time"),
      labelled("Initial balance", balance, "initial_balance"),
      labelled("Leverage", leverage, "metadata.leverage"),
      labelled("Commission %", commission, "metadata.commission"),
    ),
    status,
    h("button", { type: "submit" }, "Run backtest"),
    strategies.length ? null : h("p", {}, "Create a strategy first: ", h("a", { href: "#/strategies/new" }, "New strategy")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      const created = await app.api.createBacktest({
        strategy_id: strategy.value,
        symbol: symbol.value,
        timeframe: timeframe.value,
        start_time: isoDay(start.value),
        end_time: isoDay(end.value),
        initial_balance: Number(balance.value),
        metadata: { leverage: Number(leverage.value), commission: Number(commission.value) },
      });
      handle.onCreated(created);
      toast("Backtest queued");
    });
  });
  handle.element = form;
  return handle;
}
