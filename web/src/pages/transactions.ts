/** Transactions: import a file of your fills, list them, replay a selection beside an
 * alternative entry/exit, and compare the two leg by leg. */
import type { Json } from "../api";
import type { App, Page } from "../app";
import { h, input, labelled, select, table, toast } from "../dom";
import { formStatus, submitting } from "../forms";
import { formatValue, label, price, time, unitOf } from "../logic/format";
import { waitFor } from "../logic/polling";

type Row = Record<string, unknown>;

export const transactionsPage: Page = async (app, root) => {
  const [strategies, symbols] = await Promise.all([app.api.strategies(), app.api.symbols()]);
  const listing = h("div");
  const selected = new Set<string>();
  const comparison = h("div");
  const refresh = async (page = 1) => {
    const found = await app.api.transactions({ page, per_page: 50 });
    listing.replaceChildren(table(`Your transactions (${found.meta.total_count})`, ["", "Time", "Symbol", "Side", "Price", "Quantity", "Fee", "Exchange", "Replayed"],
      found.data.map((t) => {
        const box = h("input", { type: "checkbox", checked: selected.has(String(t.id)), "aria-label": `Select transaction ${t.transaction_id}` });
        box.addEventListener("change", () => (box.checked ? selected.add(String(t.id)) : selected.delete(String(t.id))));
        return [box, time(String(t.transaction_time)), String(t.symbol), String(t.side), price(t.price as number), price(t.quantity as number), `${price(t.fee as number)} ${t.fee_asset ?? ""}`, String(t.exchange), t.is_replayed ? "yes" : "no"];
      }), { class: "transactions" }),
      h("nav", { class: "pager", "aria-label": "Transactions pages" }, `Page ${found.meta.page} of ${Math.max(1, found.meta.total_pages)} `,
        page > 1 ? h("button", { type: "button", onclick: (() => void refresh(page - 1)) as EventListener }, "Previous page") : null,
        page < found.meta.total_pages ? h("button", { type: "button", onclick: (() => void refresh(page + 1)) as EventListener }, "Next page") : null));
  };
  root.append(h("h1", {}, "Transactions"), importForm(app, () => void refresh()), listing, replayForm(app, strategies.data.map((s) => [s.id, s.name] as [string, string]), symbols.data, selected, comparison), comparison);
  await refresh();
};

function importForm(app: App, imported: () => void): HTMLElement {
  const file = input({ type: "file", accept: ".csv,.json,.txt", required: true });
  const exchange = input({ type: "text", value: "binance" });
  const status = formStatus();
  const progress = h("p", { class: "import-progress", "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "tx-import-title" },
    h("h2", { id: "tx-import-title" }, "Import a file"),
    h("div", { class: "row" }, labelled("Transactions file", file, "file_content"), labelled("Exchange", exchange, "exchange")),
    status, progress, h("button", { type: "submit" }, "Import transactions"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    void submitting(form, status, async () => {
      const text = await chosen.text();
      const queued = await app.api.importTransactions({ source: "file", file_format: chosen.name.endsWith(".json") ? "json" : "csv", file_content: text, exchange: exchange.value });
      const done = await waitFor(() => app.api.transactionImport(String(queued.import_id)), (job) => {
        progress.textContent = `${job.status}: ${job.imported ?? 0} imported, ${job.duplicates ?? 0} duplicates`;
        return job.status === "completed" || job.status === "failed";
      });
      const errors = (done.errors ?? []) as { field: string; message: string }[];
      progress.textContent = `${done.status}: ${done.imported} imported of ${done.received}, ${done.duplicates} duplicates${errors.length ? `; ${done.error_count} problems: ${errors.slice(0, 5).map((e) => `${e.field} ${e.message}`).join("; ")}` : ""}`;
      imported();
    });
  });
  return form;
}

function replayForm(app: App, strategies: [string, string][], symbols: string[], selected: Set<string>, into: HTMLElement): HTMLElement {
  const symbol = select(symbols, symbols[0]);
  const timeframe = select(["1m", "5m", "15m", "30m", "1h", "4h", "1d"], "1h");
  const before = input({ type: "text", value: "1d", size: 6 });
  const after = input({ type: "text", value: "1d", size: 6 });
  const entry = select([["", "(actual entries)"], ...strategies]);
  const exitRules = input({ type: "text", placeholder: "stop_loss:2,take_profit:4", value: "stop_loss:2,take_profit:4" });
  const balance = input({ type: "number", step: "any", placeholder: "the cash the trades needed" });
  const status = formStatus();
  const form = h("form", { class: "card", "aria-labelledby": "replay-title" },
    h("h2", { id: "replay-title" }, "Replay the selected transactions"),
    h("div", { class: "row" },
      labelled("Symbol", symbol, "symbol"), labelled("Timeframe", timeframe, "timeframe"),
      labelled("Window before", before, "window_before"), labelled("Window after", after, "window_after"),
      labelled("Alternative entry", entry, "metadata.alternative_entry"), labelled("Alternative exit", exitRules, "metadata.alternative_exit"),
      labelled("Initial balance", balance, "metadata.initial_balance")),
    status, h("button", { type: "submit" }, "Replay with alternatives"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      if (!selected.size) throw new Error("Select the transactions to replay");
      const metadata: Json = { alternative_exit: exitRules.value || null, alternative_entry: entry.value || null };
      if (balance.value) metadata.initial_balance = Number(balance.value);
      const queued = await app.api.replay({ transaction_ids: [...selected], symbol: symbol.value, timeframe: timeframe.value, window_before: before.value, window_after: after.value, metadata });
      toast("Replay queued");
      into.replaceChildren(h("p", { "aria-live": "polite" }, "Replaying…"));
      const done = await waitFor(() => app.api.replayResult(queued.replay_id), (replay) => ["completed", "failed", "cancelled"].includes(String(replay.status)));
      into.replaceChildren(comparisonView(done, queued.backtest_id));
    });
  });
  return form;
}

export function comparisonView(replay: Json, backtestId: string): HTMLElement {
  const comparison = replay.comparison as Row | null;
  if (!comparison) return h("p", { class: "error" }, `The replay ${String(replay.status)}`);
  const totals = comparison.totals as Record<string, number>;
  const actual = (comparison.actual_summary ?? {}) as Record<string, number | null>;
  const alternative = (comparison.alternative_summary ?? {}) as Record<string, number | null>;
  const leg = (value: unknown) => {
    const l = value as Row | null;
    return l ? [`${time(String(l.entry_time))} @ ${price(l.entry_price as number)}`, `${l.exit_time ? time(String(l.exit_time)) : "open"} @ ${price(l.exit_price as number)} (${l.exit_reason})`, formatValue(l.pnl as number, "money")] : ["not entered", "", ""];
  };
  return h("section", { class: "comparison" },
    h("h2", {}, "Actual vs alternative"),
    h("section", { class: "cards", "aria-label": "Replay totals" }, ...Object.entries(totals).map(([k, v]) => h("div", { class: "summary-card" }, h("span", { class: "card-title" }, label(k)), h("strong", {}, formatValue(v, k === "trades" || k.endsWith("_trades") ? "count" : "money"))))),
    table("Summaries side by side", ["Metric", "Actual", "Alternative"], Object.keys(actual).map((k) => [label(k), formatValue(actual[k], unitOf(k)), formatValue(alternative[k] ?? null, unitOf(k))])),
    table("Round trips", ["#", "Side", "Actual entry", "Actual exit", "Actual PnL", "Alternative entry", "Alternative exit", "Alternative PnL", "Difference"],
      ((comparison.trades ?? []) as Row[]).map((trip) => [String(trip.trade_number), String(trip.side), ...leg(trip.actual), ...leg(trip.alternative), formatValue((trip.pnl_difference as number) ?? null, "money")])),
    h("p", {}, h("a", { href: `#/backtests/${backtestId}` }, "The replay as a backtest")),
  );
}
