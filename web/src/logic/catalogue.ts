/** The indicator catalogue for the rule builder: `GET /api/v1/indicators` when the API has it,
 * else the README's table (the indicators and defaults the strategy language documents); and
 * readable labels for TA-Lib's run-together parameter and output names (`nbdevup`, `slowk_matype`,
 * `aroonup`). */
import type { Api, IndicatorInfo, IndicatorParam, OperandKind, SeriesParam } from "../api";

const p = (name: string, value: number, min = 1): IndicatorParam => ({ name, default: value, min, keys: [name] });

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

/** TA-Lib's moving-average types (`matype` and its kin), by number (TA-Lib 0.6 / the `ta-lib` wheel). */
export const MA_TYPES = ["SMA", "EMA", "WMA", "DEMA", "TEMA", "TRIMA", "KAMA", "MAMA", "T3", "HMA", "None (identity)", "Function default", "ZLEMA", "Wilder (SMMA)"];

/** The catalogue route's answer (`{data: [{name, description, group, parameters: [{name, default,
 * type, minimum, maximum, choices, aliases}], sources, series_parameters: [{name, accepts,
 * description}], outputs: [{name, aliases}], default_output}]}`) as the builder's entries. A parameter is shown under its alias when that alias names it alone
 * (TA-Lib's `timeperiod` is the strategy language's `period`; bbands' `std_dev`, which sets both
 * `nbdevup` and `nbdevdn`, is not); `keys` are every name that sets it. */
export function normaliseCatalogue(payload: unknown): IndicatorInfo[] {
  const items = (payload as { data?: unknown[] })?.data;
  if (!Array.isArray(items) || !items.length) return DOCUMENTED;
  return items.map((raw) => {
    const item = raw as Record<string, unknown>;
    const params = (item.parameters ?? item.params ?? []) as Record<string, unknown>[];
    const aliasUse = new Map<string, number>();
    for (const param of params) for (const alias of (param.aliases ?? []) as string[]) aliasUse.set(alias, (aliasUse.get(alias) ?? 0) + 1);
    const number = (value: unknown) => (value === undefined || value === null ? undefined : Number(value));
    const outputs = ((item.outputs ?? []) as (string | { name: string; aliases?: string[] })[]).map((output) => (typeof output === "string" ? { name: output, aliases: [] } : output));
    const sources = Array.isArray(item.sources) ? (item.sources as { name: string; default: string }[]) : [];
    const series = Array.isArray(item.series_parameters) ? (item.series_parameters as Record<string, unknown>[]).map(seriesParam) : [];
    const info: IndicatorInfo = {
      name: String(item.name),
      params: params.filter((param) => typeof param.default === "number" || Array.isArray(param.choices)).map((param) => {
        const canonical = String(param.name);
        const aliases = (param.aliases ?? []) as string[];
        const own = aliases.find((alias) => aliasUse.get(alias) === 1);
        const entry: IndicatorParam = { name: own ?? canonical, default: param.default as number | string, keys: [own ?? canonical, ...[canonical, ...aliases].filter((key) => key !== (own ?? canonical))] };
        if (Array.isArray(param.choices)) entry.choices = (param.choices as unknown[]).map(String);
        else {
          entry.min = number(param.minimum ?? param.min);
          entry.max = number(param.maximum ?? param.max);
          if (param.type === "integer") entry.integer = true;
        }
        return entry;
      }),
      outputs: outputs.map((output) => output.name),
      source: sources.length > 0 || Boolean(item.source),
    };
    if (typeof item.description === "string") info.description = item.description;
    if (typeof item.group === "string") info.group = item.group;
    if (typeof item.default_output === "string") info.defaultOutput = item.default_output;
    if (outputs.some((output) => output.aliases?.length)) info.outputAliases = Object.fromEntries(outputs.flatMap((output) => (output.aliases ?? []).map((alias) => [alias, output.name])));
    if (sources.length) info.sources = sources;
    if (series.length) info.seriesParams = series;
    return info;
  });
}

const OPERAND_KINDS: readonly OperandKind[] = ["price", "number", "indicator"];

/** A series parameter as the catalogue gives it; the kinds the builder knows, in the catalogue's
 * order (all of them when it names none). */
function seriesParam(raw: Record<string, unknown>): SeriesParam {
  const known = (Array.isArray(raw.accepts) ? raw.accepts : []).filter((kind): kind is OperandKind => OPERAND_KINDS.includes(kind as OperandKind));
  const param: SeriesParam = { name: String(raw.name), accepts: known.length ? known : [...OPERAND_KINDS] };
  if (typeof raw.description === "string") param.description = raw.description;
  return param;
}

let cached: Promise<IndicatorInfo[]> | null = null;

export function catalogue(api: Api): Promise<IndicatorInfo[]> {
  cached ??= api.indicators().then(normaliseCatalogue, () => DOCUMENTED);
  return cached;
}

/** The catalogue's parameter a params key sets (by its name or any alias). */
export function paramFor(info: IndicatorInfo | undefined, key: string): IndicatorParam | undefined {
  return info?.params.find((param) => (param.keys ?? [param.name]).includes(key));
}

/** The canonical output a `params.output` names (an alias such as `upper` included). */
export function outputOf(info: IndicatorInfo, value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  return info.outputs.includes(value) ? value : info.outputAliases?.[value];
}

/** A moving-average type parameter (`matype`, `slowk_matype`, `fastmatype`...). */
export function isMaType(name: string): boolean {
  return /matype$/.test(name.replace(/_/g, ""));
}

// ------------------------------------------------------------------ labels

/** Whole names read better than their parts. */
const NAMED: Record<string, string> = {
  std_dev: "Std devs (up and down)", source1: "Second source", vfactor: "Volume factor", nbdev: "Std devs", timeperiod: "Period",
  offsetonreverse: "Offset on reverse", startvalue: "Start value", kind: "Kind", anchor: "Anchor", pp: "Pivot (PP)",
};

/** The pieces TA-Lib runs together, and how each reads. */
const WORDS: Record<string, string> = {
  time: "", period: "period", fast: "fast", slow: "slow", signal: "signal", ma: "MA", type: "type", nbdev: "std devs", dev: "dev",
  std: "std", up: "up", dn: "down", down: "down", acceleration: "acceleration", init: "init", max: "max",
  maximum: "maximum", min: "min", long: "long", short: "short", limit: "limit", atr: "ATR", wma: "WMA", roc: "ROC", first: "first",
  second: "second", left: "left", right: "right", bars: "bars", smoothing: "smoothing", aroon: "Aroon", osc: "oscillator",
  macd: "MACD", hist: "histogram", band: "band", upper: "upper", middle: "middle", lower: "lower", plus: "+", minus: "−", vi: "VI",
  lead: "lead", sine: "sine", in: "in", phase: "phase", idx: "index", ha: "Heikin-Ashi", open: "open", high: "high", low: "low",
  close: "close", swing: "swing", bull: "bull", bear: "bear", power: "power", senkou: "senkou", tenkan: "tenkan", kijun: "kijun",
  mama: "MAMA", fama: "FAMA", smi: "SMI", trend: "trend", supertrend: "Supertrend", source: "source", value: "value",
};

/** Stochastic lines: a piece only at the end of a part (`fastk`, `slowd`, `k_period`; not `kind`). */
const LINES: Record<string, string> = { k: "%K", d: "%D", j: "%J" };

/** `part` split into known pieces (longest first), or null when it has an unknown stretch. */
function pieces(part: string): string[] | null {
  if (part === "") return [];
  if (Object.hasOwn(LINES, part)) return [part];
  const digits = /^\d+/.exec(part);
  if (digits) {
    const rest = pieces(part.slice(digits[0].length));
    return rest && [digits[0], ...rest];
  }
  for (let end = part.length; end > 0; end--) {
    const head = part.slice(0, end);
    if (Object.hasOwn(WORDS, head)) {
      const rest = pieces(part.slice(end));
      if (rest) return [head, ...rest];
    }
  }
  return null;
}

/** A readable label for a TA-Lib parameter or output name: `nbdevup` -> "Std devs up",
 * `slowk_matype` -> "Slow %K MA type", `fastperiod` -> "Fast period", `aroonup` -> "Aroon up". */
export function readableName(name: string): string {
  if (Object.hasOwn(NAMED, name)) return NAMED[name];
  const words = name.split("_").filter(Boolean).flatMap((part) => {
    const split = pieces(part.toLowerCase());
    return split ? split.map((piece) => WORDS[piece] ?? LINES[piece] ?? piece).filter(Boolean) : [part];
  });
  const text = words.join(" ").replace(/^(\+|−) /, "$1");
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : name;
}
