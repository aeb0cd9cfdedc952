/** The indicator catalogue for the rule builder: `GET /api/v1/indicators` when the API has it,
 * else the README's table (the indicators and defaults the strategy language documents). */
import type { Api, IndicatorInfo } from "../api";

const p = (name: string, value: number, min = 1) => ({ name, default: value, min });

export const DOCUMENTED: IndicatorInfo[] = [
  { name: "price", params: [], outputs: ["value"], source: true },
  { name: "sma", params: [p("period", 30, 2)], outputs: ["value"], source: true },
  { name: "ema", params: [p("period", 30, 2)], outputs: ["value"], source: true },
  { name: "wma", params: [p("period", 30, 2)], outputs: ["value"], source: true },
  { name: "rsi", params: [p("period", 14, 2)], outputs: ["value"], source: true },
  { name: "macd", params: [p("fast_period", 12), p("slow_period", 26), p("signal_period", 9)], outputs: ["line", "signal", "histogram"], source: true },
  { name: "bbands", params: [p("period", 20, 2), p("std_dev", 2, 0)], outputs: ["middle", "upper", "lower"], source: true },
  { name: "atr", params: [p("period", 14)], outputs: ["value"] },
  { name: "stoch", params: [p("k_period", 5), p("k_smoothing", 3), p("d_period", 3)], outputs: ["k", "d"] },
  { name: "adx", params: [p("period", 14, 2)], outputs: ["value"] },
  { name: "cci", params: [p("period", 14, 2)], outputs: ["value"] },
  { name: "obv", params: [], outputs: ["value"], source: true },
  { name: "vwap", params: [p("period", 20)], outputs: ["value"], source: true },
  { name: "roc", params: [p("period", 10)], outputs: ["value"], source: true },
  { name: "momentum", params: [p("period", 10)], outputs: ["value"], source: true },
  { name: "williams_r", params: [p("period", 14, 2)], outputs: ["value"] },
  { name: "donchian", params: [p("period", 20)], outputs: ["middle", "upper", "lower"] },
];

/** Whatever shape the catalogue route answers with, as name -> parameters with defaults. */
export function normaliseCatalogue(payload: unknown): IndicatorInfo[] {
  const items = (payload as { data?: unknown[] })?.data;
  if (!Array.isArray(items) || !items.length) return DOCUMENTED;
  return items.map((raw) => {
    const item = raw as Record<string, unknown>;
    const params = item.params ?? item.parameters ?? [];
    // The API's catalogue names parameters as TA-Lib does, with the project's names as aliases:
    // the builder shows an alias that stands for that one parameter (`period`), and leaves word
    // parameters (pivots' `kind`) to their server-side defaults.
    const numeric = Array.isArray(params) ? params.filter((param) => typeof (param as Record<string, unknown>).default !== "string") : [];
    const aliasUses = new Map<string, number>();
    for (const param of numeric) for (const alias of ((param as Record<string, unknown>).aliases as unknown[] | undefined) ?? []) aliasUses.set(String(alias), (aliasUses.get(String(alias)) ?? 0) + 1);
    const list = Array.isArray(params)
      ? numeric.map((param) => {
          const entry = param as Record<string, unknown>;
          const alias = (((entry.aliases as unknown[] | undefined) ?? []).map(String)).find((name) => aliasUses.get(name) === 1);
          const minimum = entry.min ?? entry.minimum;
          return { name: alias ?? String(entry.name), default: Number(entry.default ?? 0), min: minimum === undefined || minimum === null ? undefined : Number(minimum) };
        })
      : Object.entries(params as Record<string, unknown>).map(([name, spec]) => ({
          name,
          default: Number(typeof spec === "object" && spec !== null ? ((spec as Record<string, unknown>).default ?? 0) : spec),
        }));
    const outputs = Array.isArray(item.outputs) ? item.outputs.map((o) => (typeof o === "string" ? o : String((o as Record<string, unknown>).name))) : ["value"];
    const sources = Array.isArray(item.sources) ? item.sources.length > 0 : undefined;
    return { name: String(item.name ?? item.id), params: list, outputs, source: Boolean(item.source ?? item.accepts_source ?? sources) };
  });
}

let cached: Promise<IndicatorInfo[]> | null = null;

export function catalogue(api: Api): Promise<IndicatorInfo[]> {
  cached ??= api.indicators().then(normaliseCatalogue, () => DOCUMENTED);
  return cached;
}
