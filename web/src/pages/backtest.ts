/** One backtest: live progress while it runs; once completed the summary cards, the price chart
 * with trades and overlays, equity vs buy-and-hold, the underwater chart, the trades table
 * (filters, pages, CSV) and the drawdown periods. Clicking a trade scrolls the chart to it. */
import { AreaSeries, LineSeries, type UTCTimestamp } from "lightweight-charts";
import { monteCarloSection } from "../components/monteCarlo";
import type { Api, Backtest, EquityCurve, RunTrade, Trade, TradeQuery } from "../api";
import type { App, Page } from "../app";
import { chartBox, fitWhenShown, removeChart } from "../charts";
import { priceChart, type PriceChart } from "../components/priceChart";
import { button, download, h, labelled, select, table, toast } from "../dom";
import { describeField, epochSeconds, formatValue, groupOf, GROUPS, orderedFields, price, quoteAsset, SIDE_FIELDS, SIDES, splitSummary, time, type Summary } from "../logic/format";
import { TRADE_HEADERS, tradeColumns, tradeTableOptions, type TradeColumn, type TradeTableOptions } from "../logic/trades";
import { fromJson, indicatorsOf, resolveParams } from "../logic/rules";
import { increasing, underwater } from "../logic/series";

export const EQUITY_POINTS = 2000;

export const backtestPage: Page = async (app, root, params) => {
  const backtest = await app.api.backtest(params.id);
  const cleanups: (() => void)[] = [];
  root.append(h("div", { class: "page-head" },
    h("h1", {}, `${backtest.strategy_name} · ${backtest.symbol} ${backtest.timeframe}`),
    h("a", { class: "button secondary", href: `#/compare?ids=${backtest.id}` }, "Compare with…"),
  ), h("p", { class: "muted" }, `${time(backtest.start_time)} → ${time(backtest.end_time)} · initial balance ${formatValue(backtest.initial_balance, "money", quoteAsset(backtest.symbol))}`));
  if (backtest.status !== "completed") {
    cleanups.push(progressView(app, backtest, root));
    return () => cleanups.forEach((f) => f());
  }
  cleanups.push(...(await completedView(app, backtest, root)));
  return () => cleanups.forEach((f) => f());
};

function progressView(app: App, backtest: Backtest, root: HTMLElement): () => void {
  const bar = h("progress", { max: 100, value: backtest.progress, "aria-label": "Backtest progress" });
  const text = h("span", { class: "percent" }, `${backtest.progress} %`);
  const status = h("p", { class: "status", "aria-live": "polite" }, backtest.status);
  const cancel = button("Cancel", async () => {
    await app.api.cancelBacktest(backtest.id);
    toast("Backtest cancelled");
    app.navigate(`#/backtests/${backtest.id}`);
  });
  root.append(h("section", { class: "card" }, h("h2", {}, "Progress"), bar, " ", text, status, backtest.error ? h("p", { class: "error" }, backtest.error) : null, ["pending", "running"].includes(backtest.status) ? cancel : null));
  return app.live.join(`backtest:${backtest.id}`, (event) => {
    const data = (event.snapshot ?? event.data) as { status?: string; progress?: number; message?: string };
    if (event.event !== "status_update" && event.event !== "joined") return;
    if (typeof data.progress === "number" && data.progress >= Number(bar.value)) {
      bar.value = data.progress;
      text.textContent = `${data.progress} %`;
    }
    if (data.status) status.textContent = `${data.status}${data.message ? ` — ${data.message}` : ""}`;
    if (data.status === "completed") window.setTimeout(() => app.navigate(`#/backtests/${backtest.id}`), 300);
  });
}

async function completedView(app: App, backtest: Backtest, root: HTMLElement): Promise<(() => void)[]> {
  const currency = quoteAsset(backtest.symbol);
  const [strategy, firstPage] = await Promise.all([app.api.strategy(backtest.strategy_id).catch(() => null), app.api.trades(backtest.id, { per_page: 1 })]);
  const summary = backtest.performance_summary ?? {};
  const { scalars } = splitSummary(summary);
  const values = new Map(scalars);
  const byGroup = new Map<string, HTMLElement[]>(GROUPS.map((group) => [group, group === "Returns" ? [card("Final balance", formatValue(backtest.final_balance, "money", currency))] : []]));
  for (const field of orderedFields([...values.keys()])) {
    const info = describeField(field);
    byGroup.get(groupOf(field))?.push(card(info.label, formatValue(values.get(field) ?? null, info.unit, currency), field, info.known));
  }
  const cards = h("section", { class: "summary", "aria-label": "Performance summary" },
    ...[...byGroup].filter(([, group]) => group.length).map(([title, group]) => h("div", { class: "summary-group" }, h("h3", {}, title), h("div", { class: "cards" }, ...group))));
  const definition = strategy ?? null;
  const parameters = (definition?.config?.parameters ?? {}) as Record<string, number>;
  const overlays = definition ? indicatorsOf(fromJson(definition.entry_rules), fromJson(definition.exit_rules)).map((use) => ({ indicator: use.indicator, params: resolveParams(use.params, parameters) })) : [];
  // Each part is shown as soon as it has its data: the price chart does not wait for the rest.
  const chart = priceChart(app.api, backtest, overlays, firstPage.meta.total_count);
  const equitySlot = h("div");
  const options = tradeTableOptions(definition?.config, backtest.metadata, summary);
  const trades = tradesSection(app.api, backtest, options, (trade) => void chart.focus(trade));
  const drawdownSlot = h("div");
  root.append(cards, sidesTable(summary, currency) ?? "", chart.element, equitySlot, trades.element, drawdownSlot, monteCarloSection(app.api, backtest));
  const [equity] = await Promise.all([
    app.api.equity(backtest.id, EQUITY_POINTS).then((curve) => {
      const part = equityCharts(curve);
      equitySlot.replaceWith(part.element);
      return part;
    }),
    drawdownSection(app.api, backtest).then((part) => (drawdownSlot.replaceWith(part), part)),
    chart.ready,
  ]);
  return [chart.destroy, equity.destroy];
}

function card(title: string, value: string, field?: string, known = true): HTMLElement {
  return h("div", { class: "summary-card", "data-field": field, "data-known": String(known) }, h("span", { class: "card-title" }, title), h("strong", {}, value));
}

/** The `long` and `short` sub-summaries side by side (a metric per row). */
function sidesTable(summary: Summary, currency: string): HTMLElement | null {
  const { sides } = splitSummary(summary);
  const shown = SIDES.filter((side) => sides[side]);
  if (!shown.length) return null;
  const names = { long: "Long", short: "Short" } as const;
  return h("section", { class: "sides" }, table("Long and short trades", ["Metric", ...shown.map((side) => names[side])],
    Object.entries(SIDE_FIELDS).map(([field, info]) => [info.label, ...shown.map((side) => formatValue(sides[side]?.[field] ?? null, info.unit, currency))]),
    { class: "sides-table" }, { rowHeaders: true }));
}

/** Equity vs buy-and-hold and the underwater chart of a served curve (a backtest's, or an
 * optimization's full result). */
export function equityCharts(curve: EquityCurve): { element: HTMLElement; destroy: () => void } {
  const equityBox = chartBox("Equity curve", 280);
  const times = curve.data.map((p) => epochSeconds(p.timestamp) as UTCTimestamp);
  const line = (values: number[]) => increasing(values.map((value, i) => ({ time: times[i], value })));
  equityBox.chart.addSeries(LineSeries, { color: "#0969da", lineWidth: 2, title: "Strategy" }).setData(line(curve.data.map((p) => p.equity)));
  equityBox.chart.addSeries(LineSeries, { color: "#8c959f", lineWidth: 1, title: "Buy and hold" }).setData(line(curve.data.map((p) => p.benchmark)));
  fitWhenShown(equityBox.chart);
  const drawdownBox = chartBox("Drawdown", 180);
  drawdownBox.chart.addSeries(AreaSeries, { lineColor: "#cf222e", topColor: "rgba(207,34,46,0.05)", bottomColor: "rgba(207,34,46,0.4)", invertFilledArea: true, title: "Drawdown %" })
    .setData(increasing(underwater(curve.data).map((p) => ({ time: p.time as UTCTimestamp, value: p.value }))));
  fitWhenShown(drawdownBox.chart);
  const element = h("section", { class: "equity" },
    h("h2", {}, "Equity vs buy and hold"),
    h("p", { class: "muted" }, `${curve.meta.points.toLocaleString("en-US")} of ${curve.meta.total_points.toLocaleString("en-US")} bars (lowest and highest of each span kept)`),
    equityBox.box,
    h("h2", {}, "Underwater"),
    drawdownBox.box,
  );
  return { element, destroy: () => (removeChart(equityBox.chart), removeChart(drawdownBox.chart)) };
}

/** How each trades-table column shows a trade (`n`: its 1-based number in the run). */
export function tradeCells(currency: string): Record<TradeColumn, (trade: RunTrade, n: number) => string | HTMLElement> {
  const money = (value: number | null | undefined) => formatValue(value ?? null, "money", currency);
  return {
    number: (_, n) => String(n), side: (t) => t.side, leg: (t) => String(t.leg ?? 1),
    entry_time: (t) => time(t.entry_time), entry_price: (t) => price(t.entry_price), exit_time: (t) => time(t.exit_time), exit_price: (t) => price(t.exit_price),
    quantity: (t) => price(t.quantity), pnl: (t) => h("span", { class: t.pnl >= 0 ? "gain" : "loss" }, money(t.pnl)), pnl_percentage: (t) => formatValue(t.pnl_percentage, "percent"),
    fees: (t) => money(t.fees), funding: (t) => money(t.funding ?? 0), bars: (t) => formatValue(t.bars ?? null, "count"),
    mae_percentage: (t) => formatValue(t.mae_percentage ?? null, "percent"), mfe_percentage: (t) => formatValue(t.mfe_percentage ?? null, "percent"),
    exit_reason: (t) => t.exit_reason,
  };
}

function tradesSection(api: Api, backtest: Backtest, options: TradeTableOptions, onTrade: (trade: Trade) => void): { element: HTMLElement } {
  const side = select([["", "All"], ["long", "Long"], ["short", "Short"]], "");
  const result = select([["", "All"], ["win", "Win"], ["loss", "Loss"]], "");
  const count = h("p", { class: "trade-count", "aria-live": "polite" });
  const holder = h("div", { class: "scroll" });
  const pager = h("nav", { class: "pager", "aria-label": "Trades pages" });
  let page = 1;
  const query = (): TradeQuery => ({ side: (side.value || undefined) as TradeQuery["side"], result: (result.value || undefined) as TradeQuery["result"] });
  const cells = tradeCells(quoteAsset(backtest.symbol));
  const load = async () => {
    const listing = await api.trades(backtest.id, { ...query(), page, per_page: 50 });
    count.textContent = `${listing.meta.total_count} trades`;
    count.dataset.count = String(listing.meta.total_count);
    // A position closed in parts (take-profit levels) shows one row per leg; funding is in the pnl.
    if (listing.data.some((trade) => (trade.leg ?? 1) > 1)) options.legs = true;
    const columns = tradeColumns(options);
    holder.replaceChildren(table("Trades", [...columns.map((column) => TRADE_HEADERS[column]), ""],
      listing.data.map((trade, i) => [
        ...columns.map((column) => cells[column](trade, listing.meta.offset + i + 1)),
        button("Show on chart", () => onTrade(trade), { "aria-label": `Show trade ${listing.meta.offset + i + 1} on the chart` }),
      ]), { class: "trades" }));
    pager.replaceChildren(
      button("Previous page", () => ((page -= 1), void load()), { disabled: page <= 1 }),
      h("span", {}, `Page ${listing.meta.page} of ${Math.max(1, listing.meta.total_pages)}`),
      button("Next page", () => ((page += 1), void load()), { disabled: page >= listing.meta.total_pages }),
    );
  };
  const refilter = () => ((page = 1), void load());
  side.addEventListener("change", refilter);
  result.addEventListener("change", refilter);
  const csv = button("Download CSV", async () => {
    const text = await api.tradesCsv(backtest.id, query());
    download(`backtest-${backtest.id}-trades.csv`, text);
  });
  void load();
  return { element: h("section", { class: "trades-section" }, h("h2", {}, "Trades"), h("div", { class: "row" }, labelled("Side", side), labelled("Result", result), csv), count, holder, pager) };
}

async function drawdownSection(api: Api, backtest: Backtest): Promise<HTMLElement> {
  const holder = h("div");
  const pager = h("nav", { class: "pager", "aria-label": "Drawdown pages" });
  let page = 1;
  const load = async () => {
    const listing = await api.drawdowns(backtest.id, page, 10);
    holder.replaceChildren(table("Drawdown periods, deepest first", ["Peak", "Trough", "Recovery", "Depth", "Depth %"],
      listing.data.map((p) => [time(p.start), time(p.trough), p.recovery ? time(p.recovery) : "not recovered", formatValue(p.depth, "money", quoteAsset(backtest.symbol)), formatValue(p.depth_percentage, "percent")]), { class: "drawdowns" }));
    pager.replaceChildren(
      button("Previous drawdowns", () => ((page -= 1), void load()), { disabled: page <= 1 }),
      h("span", {}, `Page ${listing.meta.page} of ${Math.max(1, listing.meta.total_pages)}`),
      button("Next drawdowns", () => ((page += 1), void load()), { disabled: page >= listing.meta.total_pages }),
    );
  };
  await load();
  return h("section", {}, h("h2", {}, "Drawdown periods"), holder, pager);
}

export type { PriceChart };
