/** The backtest's candles with entry/exit markers and the strategy's price overlays.
 *
 * Large backtests stay fluid: candles load a page (2000) at a time around what is visible and
 * more as the view reaches an edge; markers are drawn only for the trades in the visible range,
 * found by bisecting the paged trades listing on entry time. */
import { CandlestickSeries, LineSeries, createSeriesMarkers, type ISeriesApi, type UTCTimestamp, type Time } from "lightweight-charts";
import type { Api, Backtest, Candle, Trade } from "../api";
import { COLORS, chartBox, fitWhenShown, isRemoved, removeChart, timeframeSeconds } from "../charts";
import { h } from "../dom";
import { epochSeconds } from "../logic/format";
import { overlay } from "../logic/indicators";
import { firstPageFrom, visibleMarkers } from "../logic/series";

const PAGE = 2000;
const MAX_BARS = 20_000;
const TRADE_PAGE = 100;
const MAX_MARKER_PAGES = 20;

export interface PriceChart {
  element: HTMLElement;
  ready: Promise<void>;
  focus(trade: Trade): Promise<void>;
  destroy(): void;
}

export function priceChart(api: Api, backtest: Backtest, overlays: { indicator: string; params: Record<string, number> }[], tradeCount: number): PriceChart {
  const { box, chart } = chartBox("Price chart", 420);
  const note = h("p", { class: "chart-note", "aria-live": "polite" });
  const candles = chart.addSeries(CandlestickSeries, { upColor: "#1a7f37", downColor: "#cf222e", borderVisible: false, wickUpColor: "#1a7f37", wickDownColor: "#cf222e" });
  const markers = createSeriesMarkers(candles, []);
  const lines = new Map<string, ISeriesApi<"Line">>();
  const bar = timeframeSeconds(backtest.timeframe);
  const startS = epochSeconds(backtest.start_time);
  const endS = epochSeconds(backtest.end_time);
  let bars: Candle[] = [];
  let loading = false;
  const tradePages = new Map<number, Promise<Trade[]>>();

  const tradePage = (page: number) => {
    if (!tradePages.has(page)) tradePages.set(page, api.trades(backtest.id, { page, per_page: TRADE_PAGE }).then((r) => r.data));
    return tradePages.get(page)!;
  };

  const draw = () => {
    if (isRemoved(chart)) return; // the page was left while candles were loading
    const data = bars.map((c) => ({ time: epochSeconds(c.timestamp) as UTCTimestamp, open: c.open, high: c.high, low: c.low, close: c.close }));
    candles.setData(data);
    const columns = { open: bars.map((c) => c.open), high: bars.map((c) => c.high), low: bars.map((c) => c.low), close: bars.map((c) => c.close), volume: bars.map((c) => c.volume) };
    let colour = 0;
    for (const use of overlays) {
      for (const [name, values] of Object.entries(overlay(use.indicator, use.params, columns) ?? {})) {
        const line = lines.get(name) ?? chart.addSeries(LineSeries, { color: COLORS[colour++ % COLORS.length], lineWidth: 1, title: name, priceLineVisible: false, lastValueVisible: false });
        lines.set(name, line);
        line.setData(data.map((d, i) => (Number.isFinite(values[i]) ? { time: d.time, value: values[i] } : { time: d.time })));
      }
    }
  };

  const load = async (query: { start_time?: string; end_time?: string }) => (await api.candles(backtest.symbol, backtest.timeframe, { ...query, limit: PAGE })).data;

  const showAround = async (fromS: number) => {
    const from = Math.max(startS, fromS);
    bars = await load({ start_time: new Date(from * 1000).toISOString(), end_time: backtest.end_time });
    draw();
  };

  const extend = async (range: { from: number; to: number } | null) => {
    if (!range || loading || !bars.length) return;
    loading = true;
    try {
      const first = epochSeconds(bars[0].timestamp);
      const last = epochSeconds(bars[bars.length - 1].timestamp);
      if (range.from < 50 && first > startS) {
        // without a start the API answers the latest candles before the end
        const wanted = (await load({ end_time: bars[0].timestamp })).filter((c) => epochSeconds(c.timestamp) >= startS);
        bars = [...wanted, ...bars].slice(0, MAX_BARS);
        draw();
        if (!isRemoved(chart)) chart.timeScale().setVisibleLogicalRange({ from: range.from + wanted.length, to: range.to + wanted.length });
      } else if (range.to > bars.length - 50 && last + bar < endS) {
        const later = await load({ start_time: new Date((last + bar) * 1000).toISOString(), end_time: backtest.end_time });
        bars = [...bars, ...later].slice(-MAX_BARS);
        draw();
      }
    } finally {
      loading = false;
    }
  };

  let markerTimer = 0;
  const refreshMarkers = () => {
    window.clearTimeout(markerTimer);
    markerTimer = window.setTimeout(async () => {
      if (isRemoved(chart)) return;
      const visible = chart.timeScale().getVisibleRange();
      if (!visible || !tradeCount) return markers.setMarkers([]);
      const from = Number(visible.from);
      const to = Number(visible.to);
      const firstPage = Math.max(1, (await firstPageFrom(from, tradeCount, TRADE_PAGE, async (page) => epochSeconds((await tradePage(page))[0].entry_time))) - 1);
      const trades: Trade[] = [];
      const lastPage = Math.ceil(tradeCount / TRADE_PAGE);
      let page = firstPage;
      for (; page <= lastPage && page < firstPage + MAX_MARKER_PAGES; page++) {
        const rows = await tradePage(page);
        trades.push(...rows);
        if (!rows.length || epochSeconds(rows[rows.length - 1].entry_time) > to) break;
      }
      if (isRemoved(chart)) return;
      const tooMany = page >= firstPage + MAX_MARKER_PAGES;
      const shown = tooMany ? [] : visibleMarkers(trades, from, to);
      markers.setMarkers(shown.map((m) => ({ ...m, time: m.time as Time })));
      note.textContent = tooMany || (!shown.length && trades.length > 2000) ? "Zoom in to see the trades." : `${shown.length} trade markers in view`;
    }, 120);
  };

  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => void extend(range));
  chart.timeScale().subscribeVisibleTimeRangeChange(refreshMarkers);

  const ready = showAround(startS).then(() => fitWhenShown(chart));

  return {
    element: h("section", { class: "price" }, h("h2", {}, "Price"), box, note),
    ready,
    async focus(trade) {
      const entry = epochSeconds(trade.entry_time);
      const exit = trade.exit_time ? epochSeconds(trade.exit_time) : entry + bar;
      const loaded = bars.length && entry >= epochSeconds(bars[0].timestamp) && exit <= epochSeconds(bars[bars.length - 1].timestamp);
      if (!loaded) await showAround(entry - 200 * bar);
      if (isRemoved(chart)) return;
      const span = Math.max(exit - entry, 20 * bar);
      chart.timeScale().setVisibleRange({ from: (entry - span) as UTCTimestamp, to: (exit + span) as UTCTimestamp });
      box.scrollIntoView({ behavior: "smooth", block: "center" });
      refreshMarkers();
    },
    destroy: () => {
      window.clearTimeout(markerTimer);
      removeChart(chart);
    },
  };
}
