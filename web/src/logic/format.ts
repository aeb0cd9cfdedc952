/** How numbers are shown: summary fields with their units, money, percentages, times. */
export type Unit = "count" | "percent" | "money" | "ratio" | "bars";

const UNITS: Record<string, Unit> = {
  total_trades: "count",
  winning_trades: "count",
  losing_trades: "count",
  max_consecutive_losses: "count",
  max_consecutive_wins: "count",
  win_rate: "percent",
  exposure: "percent",
  cagr: "percent",
  buy_and_hold_return: "percent",
  max_drawdown: "money",
  total_pnl: "money",
  expectancy: "money",
  average_win: "money",
  average_loss: "money",
  sharpe_ratio: "ratio",
  sortino_ratio: "ratio",
  calmar_ratio: "ratio",
  profit_factor: "ratio",
  ambiguous_bars: "count",
  skipped_orders: "count",
  funding_paid: "money",
};

/** The unit of a `performance_summary` field: named ones from the README's metrics, others by suffix. */
export function unitOf(field: string): Unit {
  if (UNITS[field]) return UNITS[field];
  if (field.endsWith("_percentage") || field.endsWith("_rate") || field.endsWith("_return")) return "percent";
  if (field.endsWith("_bars") || field.endsWith("_duration")) return "bars";
  if (field.endsWith("_ratio") || field.endsWith("_factor")) return "ratio";
  if (field.endsWith("_trades") || field.startsWith("max_consecutive")) return "count";
  return "money";
}

export function label(field: string): string {
  const text = field.replace(/_percentage$/, " %").replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function formatValue(value: number | null | undefined, unit: Unit, currency = "USDT"): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  switch (unit) {
    case "count":
    case "bars":
      return `${Math.round(value).toLocaleString("en-US")}${unit === "bars" ? " bars" : ""}`;
    case "percent":
      return `${value.toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 })} %`;
    case "ratio":
      return value.toLocaleString("en-US", { maximumFractionDigits: 3, minimumFractionDigits: 2 });
    case "money":
      return `${value.toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 })} ${currency}`;
  }
}

/** The quote asset of a symbol, for money units: BTCUSDT -> USDT. */
export function quoteAsset(symbol: string): string {
  const match = /(USDT|USDC|BUSD|FDUSD|USD|EUR|BTC|ETH|BNB)$/.exec(symbol);
  return match ? match[1] : "";
}

export function price(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { maximumSignificantDigits: 8 });
}

/** `2024-03-01T12:00:00.000Z` -> `2024-03-01 12:00` (UTC, as the API). */
export function time(iso: string | null | undefined): string {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/(:\d\d)?(\.\d+)?Z$/, "").slice(0, 16);
}

/** Epoch seconds of an ISO time: lightweight-charts' UTCTimestamp. */
export function epochSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
