/** How numbers are shown: summary fields with their labels and units, money, percentages, times. */
export type Unit = "count" | "percent" | "points" | "money" | "ratio" | "bars" | "seconds" | "per_day";

export interface FieldInfo {
  label: string;
  unit: Unit;
}

export const GROUPS = ["Returns", "Risk", "Trade statistics", "Costs and execution"] as const;
export type Group = (typeof GROUPS)[number];

const f = (label: string, unit: Unit): FieldInfo => ({ label, unit });

/** Every scalar field of `performance_summary` (shared/metrics.py and the engine's execution
 * counts), by group, with the unit its formula gives: percentages in percent, money in the quote
 * asset, durations in bars except `average_trade_duration` (seconds). */
const GROUPED: Record<Group, Record<string, FieldInfo>> = {
  Returns: {
    total_pnl: f("Total PnL", "money"),
    total_pnl_percentage: f("Total PnL %", "percent"),
    cagr: f("CAGR", "percent"),
    buy_and_hold_return: f("Buy and hold return", "percent"),
    buy_and_hold_outperformance: f("Outperformance vs buy and hold", "points"),
    max_run_up: f("Max run-up", "money"),
    max_run_up_percentage: f("Max run-up %", "percent"),
  },
  Risk: {
    max_drawdown: f("Max drawdown", "money"),
    max_drawdown_percentage: f("Max drawdown %", "percent"),
    average_drawdown_duration: f("Average drawdown duration", "bars"),
    max_drawdown_duration: f("Max drawdown duration", "bars"),
    ulcer_index: f("Ulcer index", "percent"),
    sharpe_ratio: f("Sharpe ratio", "ratio"),
    sortino_ratio: f("Sortino ratio", "ratio"),
    calmar_ratio: f("Calmar ratio", "ratio"),
    recovery_factor: f("Recovery factor", "ratio"),
    sqn: f("SQN", "ratio"),
    kelly: f("Kelly fraction", "ratio"),
  },
  "Trade statistics": {
    total_trades: f("Closed trades", "count"),
    winning_trades: f("Winning trades", "count"),
    losing_trades: f("Losing trades", "count"),
    break_even_trades: f("Break-even trades", "count"),
    win_rate: f("Win rate", "percent"),
    profit_factor: f("Profit factor", "ratio"),
    expectancy: f("Expectancy", "money"),
    average_trade: f("Average trade", "money"),
    average_win: f("Average win", "money"),
    average_loss: f("Average loss", "money"),
    win_loss_ratio: f("Win/loss ratio", "ratio"),
    largest_win: f("Largest win", "money"),
    largest_loss: f("Largest loss", "money"),
    gross_profit: f("Gross profit", "money"),
    gross_loss: f("Gross loss", "money"),
    max_consecutive_wins: f("Max consecutive wins", "count"),
    max_consecutive_losses: f("Max consecutive losses", "count"),
    average_bars_in_trade: f("Average bars in trade", "bars"),
    average_bars_in_winning_trade: f("Average bars in winning trade", "bars"),
    average_bars_in_losing_trade: f("Average bars in losing trade", "bars"),
    average_trade_duration: f("Average trade duration", "seconds"),
    trades_per_day: f("Trades per day", "per_day"),
    exposure: f("Exposure", "percent"),
  },
  "Costs and execution": {
    commission_paid: f("Commission paid", "money"),
    funding_paid: f("Funding paid", "money"),
    ambiguous_bars: f("Ambiguous bars", "count"),
    skipped_orders: f("Skipped orders", "count"),
  },
};

export const SUMMARY_FIELDS: Record<string, FieldInfo> = Object.assign({}, ...GROUPS.map((group) => GROUPED[group]));

/** The group a field's card is shown in (one the table does not know: the last). */
export function groupOf(field: string): Group {
  return GROUPS.find((group) => Object.hasOwn(GROUPED[group], field)) ?? "Costs and execution";
}

/** Scalar summary fields in the dashboard's order: by group, each group in the table's order, fields
 * the table does not know last (in the API's order). */
export function orderedFields(fields: string[]): string[] {
  const rank = new Map(Object.keys(SUMMARY_FIELDS).map((field, i) => [field, i]));
  return [...fields].sort((a, b) => (rank.get(a) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b) ?? Number.MAX_SAFE_INTEGER));
}

/** The `long` and `short` sub-summaries' fields. */
export const SIDE_FIELDS: Record<string, FieldInfo> = {
  trades: f("Closed trades", "count"),
  win_rate: f("Win rate", "percent"),
  total_pnl: f("Total PnL", "money"),
  profit_factor: f("Profit factor", "ratio"),
};
export const SIDES = ["long", "short"] as const;

export type SideSummary = Record<string, number | null>;
export type Summary = Record<string, number | null | SideSummary>;

/** A field's label and unit: the table's, else guessed from its name (`known: false`, which the
 * end-to-end test refuses for a real summary). */
export function describeField(field: string): FieldInfo & { known: boolean } {
  if (Object.hasOwn(SUMMARY_FIELDS, field)) return { ...SUMMARY_FIELDS[field], known: true };
  return { label: wordsOf(field), unit: guessUnit(field), known: false };
}

function guessUnit(field: string): Unit {
  if (field.endsWith("_percentage") || field.endsWith("_rate") || field.endsWith("_return")) return "percent";
  if (field.endsWith("_bars") || field.endsWith("_duration")) return "bars";
  if (field.endsWith("_ratio") || field.endsWith("_factor")) return "ratio";
  if (field.endsWith("_trades") || field.startsWith("max_consecutive")) return "count";
  return "money";
}

export function unitOf(field: string): Unit {
  return describeField(field).unit;
}

export function label(field: string): string {
  return describeField(field).label;
}

function wordsOf(field: string): string {
  const text = field.replace(/_percentage$/, " %").replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The summary's numbers (in the API's order) and its `long` / `short` sub-summaries apart. */
export function splitSummary(summary: Summary | null | undefined): { scalars: [string, number | null][]; sides: Partial<Record<(typeof SIDES)[number], SideSummary>> } {
  const scalars: [string, number | null][] = [];
  const sides: Partial<Record<(typeof SIDES)[number], SideSummary>> = {};
  for (const [field, value] of Object.entries(summary ?? {})) {
    if ((SIDES as readonly string[]).includes(field) && value !== null && typeof value === "object") sides[field as (typeof SIDES)[number]] = value;
    else if (value === null || typeof value === "number") scalars.push([field, value]);
  }
  return { scalars, sides };
}

/** Seconds as the two largest of days, hours, minutes, seconds: `1 d 4 h`, `2 h 5 min`, `45 s`. */
export function duration(seconds: number): string {
  const total = Math.round(Math.abs(seconds));
  const parts: [number, string][] = [[Math.floor(total / 86400), "d"], [Math.floor((total % 86400) / 3600), "h"], [Math.floor((total % 3600) / 60), "min"], [total % 60, "s"]];
  const first = parts.findIndex(([n]) => n > 0);
  if (first < 0) return "0 s";
  const shown = parts.slice(first, first + 2).filter(([n], i) => i === 0 || n > 0);
  return `${seconds < 0 ? "-" : ""}${shown.map(([n, unit]) => `${n} ${unit}`).join(" ")}`;
}

export function formatValue(value: number | null | undefined, unit: Unit, currency = "USDT"): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const fixed = (digits: number) => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  switch (unit) {
    case "count":
      return Math.round(value).toLocaleString("en-US");
    case "bars": {
      // averages of bars keep a decimal; whole numbers of bars stay whole
      const text = Number.isInteger(value) ? value.toLocaleString("en-US") : fixed(1);
      return `${text} ${value === 1 ? "bar" : "bars"}`;
    }
    case "percent":
      return `${fixed(2)} %`;
    case "points":
      return `${value > 0 ? "+" : ""}${fixed(2)} pp`;
    case "ratio":
      return value.toLocaleString("en-US", { maximumFractionDigits: 3, minimumFractionDigits: 2 });
    case "money":
      return `${fixed(2)} ${currency}`.trimEnd();
    case "seconds":
      return duration(value);
    case "per_day":
      return `${fixed(2)} / day`;
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
