import { describe, expect, it } from "vitest";
import { formatValue, label, quoteAsset, time, unitOf } from "../src/logic/format";
import { bbands, donchian, ema, overlay, sma, wma } from "../src/logic/indicators";
import { emptyGroup, fromJson, indicatorsOf, newCondition, resolveParams, toJson, withParameters } from "../src/logic/rules";
import { waitFor } from "../src/logic/polling";
import { firstPageFrom, heatmap, increasing, normalise, parseCsv, visibleMarkers } from "../src/logic/series";
import { normaliseCatalogue, DOCUMENTED } from "../src/logic/catalogue";
import { matchRoute } from "../src/router";
import { parentPath } from "../src/dom";
import type { RuleGroupJson, Trade } from "../src/api";

const values = (series: Float64Array) => [...series].map((v) => (Number.isNaN(v) ? null : Number(v.toFixed(6))));

describe("indicator overlays (hand-computed)", () => {
  const closes = [1, 2, 3, 4, 5, 6];
  it("SMA averages the last period closes, undefined during warm-up", () => {
    expect(values(sma(closes, 3))).toEqual([null, null, 2, 3, 4, 5]);
  });
  it("EMA is seeded with the SMA of its first period, then k = 2/(n+1)", () => {
    // seed (1+2+3)/3 = 2; k = 0.5: 2 + (4-2)/2 = 3, 3 + (5-3)/2 = 4, 4 + (6-4)/2 = 5
    expect(values(ema(closes, 3))).toEqual([null, null, 2, 3, 4, 5]);
    expect(values(ema([2, 4, 6, 10], 2))).toEqual([null, 3, 5, 8.333333]); // k = 2/3
  });
  it("WMA weighs the newest close most", () => {
    expect(wma([1, 2, 3], 3)[2]).toBeCloseTo((1 + 4 + 9) / 6, 12);
    expect(values(wma([1, 2, 3], 3)).slice(0, 2)).toEqual([null, null]);
  });
  it("Bollinger bands use the population deviation", () => {
    const bands = bbands([1, 3, 5], 3, 2); // mean 3, variance (4+0+4)/3
    const deviation = Math.sqrt(8 / 3);
    expect(bands.middle[2]).toBe(3);
    expect(bands.upper[2]).toBeCloseTo(3 + 2 * deviation, 12);
    expect(bands.lower[2]).toBeCloseTo(3 - 2 * deviation, 12);
  });
  it("Donchian channels include the current bar", () => {
    const channel = donchian([5, 7, 6], [1, 2, 3], 2);
    expect(values(channel.upper)).toEqual([null, 7, 7]);
    expect(values(channel.lower)).toEqual([null, 1, 2]);
  });
  it("only price-scale indicators become overlays, from their source", () => {
    const bars = { open: [1, 1], high: [4, 6], low: [2, 2], close: [3, 5], volume: [1, 1] };
    expect(Object.keys(overlay("sma", { period: 2 }, bars)!)).toEqual(["SMA 2"]);
    expect(values(overlay("sma", { period: 2, source: "hl2" }, bars)!["SMA 2"])).toEqual([null, 3.5]);
    expect(overlay("rsi", { period: 14 }, bars)).toBeNull();
  });
});

describe("rule builder model", () => {
  const json: RuleGroupJson = {
    operator: "and",
    conditions: [
      { indicator: "sma", params: { period: 10 }, comparator: "crosses_above", value: { indicator: "sma", params: { period: 50 } } },
      { operator: "or", conditions: [
        { indicator: "rsi", params: { period: "$len" }, comparator: "<", value: 30 },
        { indicator: "price", params: {}, comparator: ">", value: "hl2" },
      ] },
    ],
  };
  it("round-trips the API's rule JSON, nested groups included", () => {
    expect(toJson(fromJson(json))).toEqual(json);
  });
  it("sends numbers as numbers and $references as they are", () => {
    const condition = newCondition();
    condition.value = { kind: "number", number: " 42.5 " };
    expect(toJson({ ...emptyGroup(), conditions: [condition] }).conditions[0]).toMatchObject({ value: 42.5 });
    condition.value = { kind: "number", number: "$level" };
    expect(toJson({ ...emptyGroup(), conditions: [condition] }).conditions[0]).toMatchObject({ value: "$level" });
  });
  it("lists each indicator a strategy reads once, values included", () => {
    const used = indicatorsOf(fromJson(json), fromJson({ conditions: [json.conditions[0] as never] }));
    expect(used.map((u) => `${u.indicator}${JSON.stringify(u.params)}`)).toEqual(['sma{"period":10}', 'sma{"period":50}', 'rsi{"period":"$len"}', "price{}"]);
  });
  it("applies swept values as the optimizer does: bare names to config.parameters, paths to their field", () => {
    const strategy = { name: "s", config: { parameters: { fast: 5 }, stop_loss: 1 }, entry_rules: { conditions: [{ params: { period: 3 } }] } };
    const tuned = withParameters(strategy, { fast: 10, "config.stop_loss": 2, "entry_rules.conditions[0].params.period": 7 });
    expect(tuned).toEqual({ name: "s", config: { parameters: { fast: 10 }, stop_loss: 2 }, entry_rules: { conditions: [{ params: { period: 7 } }] } });
    expect(strategy.config.parameters.fast).toBe(5); // a copy
  });
  it("polls until done", async () => {
    let calls = 0;
    expect(await waitFor(async () => ++calls, (n) => n === 3, 1)).toBe(3);
  });
  it("resolves $names from config.parameters", () => {
    expect(resolveParams({ period: "$fast", std_dev: 2, source: "close" }, { fast: 12 })).toEqual({ period: 12, std_dev: 2 });
  });
  it("a 422 field finds the nearest control up its path", () => {
    expect(parentPath("entry_rules.conditions[0].params.period")).toBe("entry_rules.conditions[0].params");
    expect(parentPath("entry_rules.conditions[0]")).toBe("entry_rules.conditions");
    expect(parentPath("name")).toBe("");
  });
});

describe("formatting", () => {
  it("gives each summary field its unit", () => {
    expect(unitOf("win_rate")).toBe("percent");
    expect(unitOf("max_drawdown_percentage")).toBe("percent");
    expect(unitOf("max_drawdown")).toBe("money");
    expect(unitOf("sharpe_ratio")).toBe("ratio");
    expect(unitOf("total_trades")).toBe("count");
    expect(unitOf("ambiguous_bars")).toBe("count");
    expect(unitOf("skipped_orders")).toBe("count");
    expect(unitOf("funding_paid")).toBe("money");
    expect(formatValue(12.3456, "percent")).toBe("12.35 %");
    expect(formatValue(-1234.5, "money", "USDT")).toBe("-1,234.50 USDT");
    expect(formatValue(null, "ratio")).toBe("—");
    expect(label("max_drawdown_percentage")).toBe("Max drawdown %");
    expect(quoteAsset("ETHBTC")).toBe("BTC");
    expect(time("2024-03-01T12:30:00.000Z")).toBe("2024-03-01 12:30");
  });
});

const trade = (id: string, entry: string, exit: string | null, side: "long" | "short", pnl: number) =>
  ({ id, entry_time: entry, exit_time: exit, side, pnl, exit_reason: "signal" }) as Trade;

describe("series for charts", () => {
  it("rebases curves to 100", () => {
    expect(normalise([200, 250, 150])).toEqual([100, 125, 75]);
  });
  it("drops repeated times", () => {
    expect(increasing([{ time: 1 }, { time: 1 }, { time: 2 }])).toEqual([{ time: 1 }, { time: 2 }]);
  });
  it("marks only what is in the visible range, and nothing beyond the limit", () => {
    const trades = [trade("a", "1970-01-01T00:00:10Z", "1970-01-01T00:00:20Z", "long", 5), trade("b", "1970-01-01T00:00:30Z", null, "short", -1)];
    const markers = visibleMarkers(trades, 15, 40);
    expect(markers.map((m) => m.id)).toEqual(["a:exit", "b:entry"]);
    expect(markers[1]).toMatchObject({ shape: "arrowDown", position: "aboveBar" });
    expect(visibleMarkers(trades, 0, 40, 2)).toEqual([]);
  });
  it("bisects the trades pages for the first one that can hold a time", async () => {
    const firstEntries = [0, 100, 200, 300, 400]; // page p starts at (p-1)*100
    const asked: number[] = [];
    const lookup = async (page: number) => (asked.push(page), firstEntries[page - 1]);
    expect(await firstPageFrom(250, 500, 100, lookup)).toBe(3);
    expect(await firstPageFrom(-5, 500, 100, lookup)).toBe(1);
    expect(await firstPageFrom(999, 500, 100, lookup)).toBe(5);
    expect(asked.length).toBeLessThanOrEqual(9); // log2(5) per search
  });
  it("heatmaps keep the best value of each parameter pair", () => {
    const map = heatmap([
      { params: { fast: 5, slow: 20 }, value: 1 },
      { params: { fast: 10, slow: 20 }, value: 3 },
      { params: { fast: 5, slow: 30 }, value: 2 },
      { params: { fast: 5, slow: 30, stop: 1 }, value: 4 },
    ], "fast", "slow");
    expect(map).toEqual({ xs: [5, 10], ys: [20, 30], cells: [[1, 3], [4, null]] });
    expect(heatmap([{ params: { a: 1, b: 1 }, value: 5 }, { params: { a: 1, b: 1 }, value: 2 }], "a", "b", false).cells).toEqual([[2]]);
  });
  it("reads CSV with quotes and CRLF", () => {
    expect(parseCsv('id,note\r\n1,"a, ""b"""\r\n2,\r\n')).toEqual([{ id: "1", note: 'a, "b"' }, { id: "2", note: "" }]);
  });
});

describe("catalogue and routes", () => {
  it("falls back to the documented indicators and reads a catalogue route's shapes", () => {
    expect(normaliseCatalogue({})).toBe(DOCUMENTED);
    const answered = { data: [{ name: "sma", aliases: [], group: "overlap", parameters: [
      { name: "timeperiod", default: 30, type: "integer", minimum: 2, maximum: 100000, aliases: ["period"] },
      { name: "matype", default: "sma", type: "choice", minimum: null, maximum: null, aliases: [] },
    ], sources: [{ name: "source", default: "close" }], outputs: [{ name: "value", aliases: ["real"] }] }] };
    expect(normaliseCatalogue(answered)).toEqual([{ name: "sma", params: [{ name: "period", default: 30, min: 2 }], outputs: ["value"], source: true }]);
  });
  it("matches hash routes with parameters and a query", () => {
    const routes = [{ pattern: "/backtests", page: 1 }, { pattern: "/backtests/:id", page: 2 }, { pattern: "/compare", page: 3 }];
    expect(matchRoute(routes, "/backtests/abc")).toEqual({ route: routes[1], params: { id: "abc" } });
    expect(matchRoute(routes, "/compare?ids=a,b")!.params).toEqual({ ids: "a,b" });
    expect(matchRoute(routes, "/nope")).toBeNull();
  });
});
