/** The fields a run needs (backtest or optimization): strategy, symbol and timeframe from the
 * market-data API, start, end, initial balance, leverage, commission. */
import type { BacktestInput, StrategySummary } from "../api";
import type { App } from "../app";
import { h, input, labelled, select } from "../dom";

export interface RunFields {
  element: HTMLElement;
  strategy: HTMLSelectElement;
  values(): BacktestInput;
}

export function isoDay(value: string): string {
  return new Date(`${value}T00:00:00Z`).toISOString();
}

export function runFields(app: App, strategies: StrategySummary[], symbols: string[]): RunFields {
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
  const loadTimeframes = async () => {
    const { data } = await app.api.timeframes(symbol.value);
    const chosen = timeframe.value; // kept when the symbol serves it too
    timeframe.replaceChildren(...data.map((t) => h("option", { value: t }, t)));
    timeframe.value = data.includes(chosen) ? chosen : data.includes("1h") ? "1h" : data[0];
  };
  symbol.addEventListener("change", () => void loadTimeframes());
  if (symbols.length) void loadTimeframes();
  return {
    strategy,
    element: h("div", { class: "row" },
      labelled("Strategy", strategy, "strategy_id"),
      labelled("Symbol", symbol, "symbol"),
      labelled("Timeframe", timeframe, "timeframe"),
      labelled("Start", start, "start_time"),
      labelled("End", end, "end_time"),
      labelled("Initial balance", balance, "initial_balance"),
      labelled("Leverage", leverage, "metadata.leverage"),
      labelled("Commission %", commission, "metadata.commission"),
    ),
    values: () => ({
      strategy_id: strategy.value,
      symbol: symbol.value,
      timeframe: timeframe.value,
      start_time: isoDay(start.value),
      end_time: isoDay(end.value),
      initial_balance: Number(balance.value),
      metadata: { leverage: Number(leverage.value), commission: Number(commission.value) },
    }),
  };
}
