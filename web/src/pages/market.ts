/** Market data: stored symbols and their timeframes, a file import with its progress, and a live
 * chart fed by the `market:{symbol}:{timeframe}` channel. */
import { CandlestickSeries, type UTCTimestamp } from "lightweight-charts";
import type { App, Page } from "../app";
import { chartBox, fitWhenShown, isRemoved, removeChart } from "../charts";
import { h, input, labelled, select, table } from "../dom";
import { formStatus, submitting } from "../forms";
import { epochSeconds, time } from "../logic/format";
import { waitFor } from "../logic/polling";

const TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"];

export const marketDataPage: Page = async (app, root) => {
  const { data: symbols } = await app.api.symbols();
  const served = await Promise.all(symbols.map((s) => app.api.timeframes(s).then((r) => r.data)));
  const live = liveChart(app, symbols);
  root.append(
    h("h1", {}, "Market data"),
    table("Stored symbols", ["Symbol", "Timeframes"], symbols.map((s, i) => [s, served[i].join(" ")])),
    importForm(app),
    live.element,
  );
  return live.destroy;
};

function base64(bytes: ArrayBuffer): string {
  let binary = "";
  const view = new Uint8Array(bytes);
  for (let i = 0; i < view.length; i += 0x8000) binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(binary);
}

function importForm(app: App): HTMLElement {
  const symbol = input({ type: "text", value: "BTCUSDT", required: true, size: 12 });
  // "funding": a perpetual's funding-rate history through the same route (Binance dumps, exports
  // with a time and a rate column, the exchanges' JSON), which `metadata.funding` backtests charge
  const timeframe = select([...TIMEFRAMES.map((t) => [t, t] as [string, string]), ["funding", "funding rates"]], "1h");
  const file = input({ type: "file", accept: ".csv,.json,.parquet,.txt,.gz,.zip", required: true });
  const status = formStatus();
  const progress = h("progress", { max: 100, value: 0, "aria-label": "Import progress" });
  const outcome = h("p", { "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "candles-import-title" },
    h("h2", { id: "candles-import-title" }, "Import candles or funding rates"),
    h("div", { class: "row" }, labelled("Symbol", symbol, "symbol"), labelled("Timeframe", timeframe, "timeframe"), labelled("Candles file", file, "file_content")),
    status, progress, outcome, h("button", { type: "submit" }, "Import file"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    void submitting(form, status, async () => {
      progress.value = 10;
      const format = chosen.name.endsWith(".parquet") ? "parquet" : chosen.name.endsWith(".json") ? "json" : "csv";
      const queued = await app.api.importCandles({ symbol: symbol.value, timeframe: timeframe.value, file_format: format, file_content: base64(await chosen.arrayBuffer()) });
      progress.value = 30;
      const done = await waitFor(() => app.api.candleImport(String(queued.import_id)), (job) => {
        progress.value = job.status === "running" ? 60 : Number(progress.value);
        return job.status === "completed" || job.status === "failed";
      });
      progress.value = 100;
      const errors = (done.errors ?? []) as { field: string; message: string }[];
      outcome.textContent = `${done.status}: ${done.rows_imported ?? 0} rows imported, ${done.rows_unchanged ?? 0} unchanged${errors.length ? `; ${done.error_count} problems: ${errors.slice(0, 5).map((e) => `${e.field} ${e.message}`).join("; ")}` : ""}`;
    });
  });
  return form;
}

function liveChart(app: App, symbols: string[]): { element: HTMLElement; destroy: () => void } {
  const symbol = select(symbols, symbols[0]);
  const timeframe = select(TIMEFRAMES, "1m");
  const { box, chart } = chartBox("Live price chart", 360);
  const series = chart.addSeries(CandlestickSeries, { upColor: "#1a7f37", downColor: "#cf222e", borderVisible: false, wickUpColor: "#1a7f37", wickDownColor: "#cf222e" });
  const last = h("p", { class: "chart-note", "aria-live": "polite" });
  let leave = () => undefined as void;
  const follow = async () => {
    leave();
    const { data } = await app.api.candles(symbol.value, timeframe.value, { limit: 300 });
    if (isRemoved(chart)) return; // the page was left meanwhile
    series.setData(data.map((c) => ({ time: epochSeconds(c.timestamp) as UTCTimestamp, open: c.open, high: c.high, low: c.low, close: c.close })));
    fitWhenShown(chart);
    let newest = data.length ? epochSeconds(data[data.length - 1].timestamp) : 0;
    leave = app.live.join(`market:${symbol.value}:${timeframe.value}`, (event) => {
      if (event.event !== "candle_update") return;
      const c = event.data as { timestamp: string; open: number; high: number; low: number; close: number; is_closed: boolean };
      const at = epochSeconds(c.timestamp);
      if (at < newest) return; // the chart only moves forward
      newest = at;
      series.update({ time: at as UTCTimestamp, open: c.open, high: c.high, low: c.low, close: c.close });
      last.textContent = `${time(c.timestamp)} close ${c.close}${c.is_closed ? "" : " (forming)"}`;
    });
  };
  symbol.addEventListener("change", () => void follow());
  timeframe.addEventListener("change", () => void follow());
  void follow();
  return {
    element: h("section", {}, h("h2", {}, "Live"), h("div", { class: "row" }, labelled("Symbol", symbol), labelled("Timeframe", timeframe)), box, last),
    destroy: () => (leave(), removeChart(chart)),
  };
}
