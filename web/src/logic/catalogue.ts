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

/** The catalogue route's answer (`{data: [{name, parameters: [{name, default, minimum, aliases}],
 * sources, outputs: [{name}]}]}`) as the builder's entries. A parameter is shown under its first
 * alias when it has one: TA-Lib's `timeperiod` is the strategy language's `period`. */
export function normaliseCatalogue(payload: unknown): IndicatorInfo[] {
  const items = (payload as { data?: unknown[] })?.data;
  if (!Array.isArray(items) || !items.length) return DOCUMENTED;
  return items.map((raw) => {
    const item = raw as Record<string, unknown>;
    const params = ((item.parameters ?? item.params ?? []) as Record<string, unknown>[]).filter((param) => typeof param.default === "number");
    return {
      name: String(item.name),
      params: params.map((param) => {
        const aliases = (param.aliases ?? []) as string[];
        const minimum = param.minimum ?? param.min;
        return { name: aliases[0] ?? String(param.name), default: Number(param.default), min: minimum === undefined || minimum === null ? undefined : Number(minimum) };
      }),
      outputs: ((item.outputs ?? []) as (string | { name: string })[]).map((output) => (typeof output === "string" ? output : output.name)),
      source: Array.isArray(item.sources) ? item.sources.length > 0 : Boolean(item.source),
    };
  });
}

let cached: Promise<IndicatorInfo[]> | null = null;

export function catalogue(api: Api): Promise<IndicatorInfo[]> {
  cached ??= api.indicators().then(normaliseCatalogue, () => DOCUMENTED);
  return cached;
}
