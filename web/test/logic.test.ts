import { describe, expect, it } from "vitest";
import { describeField, duration, formatValue, groupOf, label, orderedFields, quoteAsset, splitSummary, SUMMARY_FIELDS, time, unitOf } from "../src/logic/format";
import { tradeColumns, tradeTableOptions } from "../src/logic/trades";
import { plot } from "../src/logic/svg";
import { bbands, donchian, ema, overlay, sma, wma } from "../src/logic/indicators";
import { emptyGroup, fromJson, indicatorsOf, newCondition, resolveParams, toJson, withParameters } from "../src/logic/rules";
import { waitFor } from "../src/logic/polling";
import { firstPageFrom, heatmap, increasing, normalise, parseCsv, visibleMarkers } from "../src/logic/series";
import { isMaType, normaliseCatalogue, DOCUMENTED, outputOf, paramFor, readableName } from "../src/logic/catalogue";
import { matchRoute } from "../src/router";
import { FULL_RESULTS, fullResultHref } from "../src/logic/fullResults";
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
    expect(unitOf("commission_paid")).toBe("money");
    expect(unitOf("average_trade_duration")).toBe("seconds"); // exit_time - entry_time in seconds
    expect(unitOf("max_drawdown_duration")).toBe("bars");
    expect(unitOf("average_bars_in_trade")).toBe("bars");
    expect(unitOf("ulcer_index")).toBe("percent"); // sqrt(mean(drawdown %^2))
    expect(unitOf("buy_and_hold_outperformance")).toBe("points"); // a difference of two percentages
    expect(unitOf("kelly")).toBe("ratio"); // a fraction of capital
    expect(unitOf("trades_per_day")).toBe("per_day");
    expect(formatValue(12.3456, "percent")).toBe("12.35 %");
    expect(formatValue(-1234.5, "money", "USDT")).toBe("-1,234.50 USDT");
    expect(formatValue(null, "ratio")).toBe("—");
    expect(label("max_drawdown_percentage")).toBe("Max drawdown %");
    expect(quoteAsset("ETHBTC")).toBe("BTC");
    expect(time("2024-03-01T12:30:00.000Z")).toBe("2024-03-01 12:30");
  });
  it("labels and units every field of issue 14's metrics list and the execution counts", () => {
    // shared/metrics.py's summary and shared/engine/simulate.py's execution_summary, field by field
    const engine = ["total_trades", "winning_trades", "losing_trades", "win_rate", "profit_factor", "max_drawdown", "max_drawdown_percentage",
      "sharpe_ratio", "sortino_ratio", "total_pnl", "total_pnl_percentage", "cagr", "calmar_ratio", "exposure", "expectancy", "average_win",
      "average_loss", "max_consecutive_losses", "buy_and_hold_return", "gross_profit", "gross_loss", "largest_win", "largest_loss",
      "break_even_trades", "max_consecutive_wins", "average_trade", "win_loss_ratio", "commission_paid", "average_bars_in_trade",
      "average_bars_in_winning_trade", "average_bars_in_losing_trade", "average_trade_duration", "sqn", "kelly", "recovery_factor",
      "ulcer_index", "max_run_up", "max_run_up_percentage", "average_drawdown_duration", "max_drawdown_duration", "trades_per_day",
      "buy_and_hold_outperformance", "ambiguous_bars", "funding_paid", "skipped_orders"];
    expect(engine.filter((field) => !describeField(field).known)).toEqual([]);
    expect(Object.keys(SUMMARY_FIELDS).sort()).toEqual([...engine].sort());
    const labels = engine.map((field) => describeField(field).label);
    expect(new Set(labels).size).toBe(labels.length); // no two cards read the same
    expect(describeField("brand_new_ratio")).toEqual({ label: "Brand new ratio", unit: "ratio", known: false });
    expect(describeField("constructor").known).toBe(false);
  });
  it("orders the cards by group, returns first, unknown fields last in the API's order", () => {
    expect(orderedFields(["zeta_new", "win_rate", "ambiguous_bars", "alpha_new", "max_drawdown", "total_pnl"]))
      .toEqual(["total_pnl", "max_drawdown", "win_rate", "ambiguous_bars", "zeta_new", "alpha_new"]);
    expect([groupOf("cagr"), groupOf("sharpe_ratio"), groupOf("exposure"), groupOf("funding_paid"), groupOf("brand_new")])
      .toEqual(["Returns", "Risk", "Trade statistics", "Costs and execution", "Costs and execution"]);
  });
  it("formats durations, bars, points and rates in their units", () => {
    expect(formatValue(93_784, "seconds")).toBe("1 d 2 h"); // 1 d 2 h 3 min 4 s: the two largest parts
    expect(duration(5_400)).toBe("1 h 30 min");
    expect(duration(7_200)).toBe("2 h");
    expect(duration(45)).toBe("45 s");
    expect(duration(0)).toBe("0 s");
    expect(formatValue(12.25, "bars")).toBe("12.3 bars"); // a mean keeps a decimal
    expect(formatValue(12, "bars")).toBe("12 bars");
    expect(formatValue(1, "bars")).toBe("1 bar");
    expect(formatValue(3.2, "points")).toBe("+3.20 pp");
    expect(formatValue(-0.5, "points")).toBe("-0.50 pp");
    expect(formatValue(0.4166, "per_day")).toBe("0.42 / day");
    expect(formatValue(1234.4, "count")).toBe("1,234");
  });
  it("splits the long and short sub-summaries from the numbers", () => {
    const long = { trades: 3, win_rate: 66.7, total_pnl: 120, profit_factor: 2.5 };
    const { scalars, sides } = splitSummary({ total_trades: 3, cagr: null, long, short: { trades: 0, win_rate: null, total_pnl: 0, profit_factor: null } });
    expect(scalars).toEqual([["total_trades", 3], ["cagr", null]]);
    expect(sides.long).toBe(long);
    expect(sides.short?.trades).toBe(0);
    expect(splitSummary(null)).toEqual({ scalars: [], sides: {} });
  });
  it("shows the leg column for partial exits and funding only where charged", () => {
    const none = tradeTableOptions({}, { leverage: 1 }, { funding_paid: 0 });
    expect(none).toEqual({ legs: false, funding: false });
    expect(tradeColumns(none)).not.toContain("leg");
    expect(tradeColumns(none)).not.toContain("funding");
    expect(tradeColumns(none)).toEqual(expect.arrayContaining(["fees", "bars", "mae_percentage", "mfe_percentage"]));
    expect(tradeTableOptions({ take_profit_levels: [{ percent: 2, size: 50 }] }, {}, {})).toEqual({ legs: true, funding: false });
    expect(tradeTableOptions(null, null, null, true).legs).toBe(true); // a leg 2 seen in the trades
    expect(tradeTableOptions({}, { funding: true }, {}).funding).toBe(true);
    expect(tradeTableOptions({}, {}, { funding_paid: -1.25 }).funding).toBe(true);
    expect(tradeColumns({ legs: true, funding: true }).slice(0, 3)).toEqual(["number", "side", "leg"]);
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
  it("scales SVG plots into their box, the lowest value at the bottom", () => {
    // x 0..10 -> 10..90 (width 100, pad 10), y 5..15 -> 40..10 (height 50)
    const chart = plot([0, 5, 10], [5, 15, 10], 100, 50, 10);
    expect(chart.range).toEqual([5, 15]);
    expect(chart.line([5, 15, 10])).toBe("10.0,40.0 50.0,10.0 90.0,25.0");
    expect(chart.area([15, 15, 15], [5, 5, 5])).toBe("10.0,10.0 50.0,10.0 90.0,10.0 90.0,40.0 50.0,40.0 10.0,40.0");
    expect(plot([3], [7], 100, 50, 10).line([7])).toBe("10.0,40.0"); // one point: no division by zero
  });
  it("reads CSV with quotes and CRLF", () => {
    expect(parseCsv('id,note\r\n1,"a, ""b"""\r\n2,\r\n')).toEqual([{ id: "1", note: 'a, "b"' }, { id: "2", note: "" }]);
  });
});

describe("catalogue and routes", () => {
  it("falls back to the documented indicators and reads a catalogue route's shapes", () => {
    expect(normaliseCatalogue({})).toBe(DOCUMENTED);
    const answered = { data: [{ name: "sma", aliases: [], group: "overlap", description: "Simple Moving Average", parameters: [
      { name: "timeperiod", default: 30, type: "integer", minimum: 2, maximum: 100000, aliases: ["period"] },
    ], sources: [{ name: "source", default: "close" }], outputs: [{ name: "value", aliases: ["real"] }], default_output: "value" }] };
    expect(normaliseCatalogue(answered)).toEqual([{
      name: "sma", group: "overlap", description: "Simple Moving Average", defaultOutput: "value", outputAliases: { real: "value" },
      params: [{ name: "period", default: 30, min: 2, max: 100000, integer: true, keys: ["period", "timeperiod"] }],
      outputs: ["value"], source: true, sources: [{ name: "source", default: "close" }],
    }]);
  });
  it("keeps choices, moving-average types and outputs; an alias shared by two parameters is not a name", () => {
    const [bbands, aroon, pivots] = normaliseCatalogue({ data: [
      { name: "bbands", parameters: [
        { name: "timeperiod", default: 20, type: "integer", minimum: 2, maximum: 100000, aliases: ["period"] },
        { name: "nbdevup", default: 2, type: "number", minimum: -3e37, maximum: 3e37, aliases: ["std_dev"] },
        { name: "nbdevdn", default: 2, type: "number", minimum: -3e37, maximum: 3e37, aliases: ["std_dev"] },
        { name: "matype", default: 0, type: "integer", minimum: 0, maximum: 13, aliases: [] },
      ], sources: [{ name: "source", default: "close" }],
      outputs: [{ name: "upperband", aliases: ["upper"] }, { name: "middleband", aliases: ["middle"] }, { name: "lowerband", aliases: ["lower"] }], default_output: "middleband" },
      { name: "aroon", parameters: [{ name: "timeperiod", default: 14, type: "integer", minimum: 2, maximum: 100000, aliases: ["period"] }], sources: [],
        outputs: [{ name: "aroondown", aliases: [] }, { name: "aroonup", aliases: [] }], default_output: "aroondown" },
      { name: "pivots", parameters: [{ name: "kind", default: "standard", type: "choice", choices: ["standard", "fibonacci", "camarilla", "woodie"], aliases: [] }],
        sources: [], outputs: [{ name: "pp", aliases: [] }, { name: "r1", aliases: [] }], default_output: "pp" },
    ] });
    expect(bbands.params.map((p) => p.name)).toEqual(["period", "nbdevup", "nbdevdn", "matype"]);
    expect(paramFor(bbands, "std_dev")?.name).toBe("nbdevup"); // std_dev sets both; the builder shows it once
    expect(paramFor(bbands, "timeperiod")?.name).toBe("period");
    expect(outputOf(bbands, "upper")).toBe("upperband");
    expect(outputOf(bbands, "lowerband")).toBe("lowerband");
    expect(outputOf(bbands, "nope")).toBeUndefined();
    expect(aroon.outputs).toEqual(["aroondown", "aroonup"]); // aroon's up line is selectable
    expect(aroon.defaultOutput).toBe("aroondown");
    expect(pivots.params).toEqual([{ name: "kind", default: "standard", choices: ["standard", "fibonacci", "camarilla", "woodie"], keys: ["kind"] }]);
    expect(["matype", "slowk_matype", "fastmatype", "signalmatype"].every(isMaType)).toBe(true);
    expect(isMaType("timeperiod")).toBe(false);
  });
  it("labels TA-Lib's run-together parameter and output names readably", () => {
    const cases: Record<string, string> = {
      timeperiod: "Period", period: "Period", nbdevup: "Std devs up", nbdevdn: "Std devs down", nbdev: "Std devs", std_dev: "Std devs (up and down)",
      fastperiod: "Fast period", slowperiod: "Slow period", signalperiod: "Signal period", fast_period: "Fast period",
      matype: "MA type", signalmatype: "Signal MA type", slowk_matype: "Slow %K MA type", fastd_period: "Fast %D period", k_period: "%K period",
      k_smoothing: "%K smoothing", acceleration: "Acceleration", maximum: "Maximum", accelerationinitlong: "Acceleration init long",
      accelerationmaxshort: "Acceleration max short", startvalue: "Start value", offsetonreverse: "Offset on reverse", vfactor: "Volume factor",
      timeperiod1: "Period 1", roc1period: "ROC 1 period", atrperiod: "ATR period", stddevperiod: "Std dev period", fastlimit: "Fast limit",
      penetration: "Penetration", kind: "Kind", anchor: "Anchor", source1: "Second source", tenkan_period: "Tenkan period",
      aroonup: "Aroon up", aroondown: "Aroon down", macdsignal: "MACD signal", macdhist: "MACD histogram", upperband: "Upper band",
      slowk: "Slow %K", plusvi: "+VI", r1: "R1", senkou_a: "Senkou a", overlap: "Overlap", pattern_recognition: "Pattern recognition",
    };
    expect(Object.fromEntries(Object.keys(cases).map((name) => [name, readableName(name)]))).toEqual(cases);
  });
  it("matches hash routes with parameters and a query", () => {
    const routes = [{ pattern: "/backtests", page: 1 }, { pattern: "/backtests/:id", page: 2 }, { pattern: "/compare", page: 3 }];
    expect(matchRoute(routes, "/backtests/abc")).toEqual({ route: routes[1], params: { id: "abc" } });
    expect(matchRoute(routes, "/compare?ids=a,b")!.params).toEqual({ ids: "a,b" });
    expect(matchRoute(routes, "/nope")).toBeNull();
  });
});

describe("an optimization's best ranks in full", () => {
  it("links ranks 1 to 10 (the API's FULL_RESULTS) to their page, no other row", () => {
    expect(FULL_RESULTS).toBe(10);
    expect(fullResultHref("opt-1", 1)).toBe("#/optimizations/opt-1/results/1");
    expect(fullResultHref("opt-1", 10)).toBe("#/optimizations/opt-1/results/10");
    for (const rank of [11, 0, -1, 2.5, undefined]) expect(fullResultHref("opt-1", rank)).toBeNull();
    expect(fullResultHref("opt-1", 3, 2)).toBeNull(); // fewer kept
  });
  it("the link reaches the result's route with its id and rank", () => {
    const routes = [{ pattern: "/optimizations/:id", page: 1 }, { pattern: "/optimizations/:id/results/:rank", page: 2 }];
    const href = fullResultHref("a b/c", 7)!;
    expect(matchRoute(routes, href.slice(1))).toEqual({ route: routes[1], params: { id: "a b/c", rank: "7" } });
  });
});
