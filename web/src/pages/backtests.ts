/** Backtests: run one, watch every run's progress live (the user's channel), cancel, delete. */
import type { Backtest, StrategySummary } from "../api";
import type { App, Page } from "../app";
import { runFields } from "../components/runFields";
import { button, h, toast } from "../dom";
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

function rowOf(app: App, backtest: Backtest, removed: () => void): HTMLTableRowElement {
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

function runForm(app: App, strategies: StrategySummary[], symbols: string[]) {
  const fields = runFields(app, strategies, symbols);
  const status = formStatus();
  const handle = { element: null as unknown as HTMLFormElement, onCreated: (_: Backtest) => undefined as void };
  const form = h("form", { class: "card run", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run a backtest"),
    fields.element,
    status,
    h("button", { type: "submit" }, "Run backtest"),
    strategies.length ? null : h("p", {}, "Create a strategy first: ", h("a", { href: "#/strategies/new" }, "New strategy")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      handle.onCreated(await app.api.createBacktest(fields.values()));
      toast("Backtest queued");
    });
  });
  handle.element = form;
  return handle;
}
