/** Compare 2-5 completed backtests: equity curves rebased to 100 on one chart, metrics side by side. */
import { LineSeries, type UTCTimestamp } from "lightweight-charts";
import type { Backtest } from "../api";
import type { Page } from "../app";
import { COLORS, chartBox, fitWhenShown, removeChart } from "../charts";
import { h, table } from "../dom";
import { describeField, epochSeconds, formatValue, orderedFields, quoteAsset, SIDE_FIELDS, SIDES, splitSummary, time } from "../logic/format";
import { increasing, normalise } from "../logic/series";

export const MIN_COMPARED = 2;
export const MAX_COMPARED = 5;

export const comparePage: Page = async (app, root, params) => {
  const { data } = await app.api.backtests({ status: "completed" });
  const preselected = new Set((params.ids ?? "").split(",").filter(Boolean));
  const boxes = data.map((b) => {
    const name = `${b.strategy_name} ${b.symbol} ${b.timeframe} ${time(b.created_at)}`;
    return { backtest: b, box: h("input", { type: "checkbox", value: b.id, checked: preselected.has(b.id), "aria-label": `Compare ${name}` }), name };
  });
  const status = h("p", { class: "form-status", role: "alert" });
  const result = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "compare-title" },
    h("h1", { id: "compare-title" }, "Compare backtests"),
    table("Completed backtests", ["", "Strategy", "Symbol", "Timeframe", "Period", "Final balance"], boxes.map(({ backtest: b, box }) => [
      box, b.strategy_name, b.symbol, b.timeframe, `${time(b.start_time)} → ${time(b.end_time)}`, formatValue(b.final_balance, "money", quoteAsset(b.symbol)),
    ])),
    status,
    h("button", { type: "submit" }, "Compare"),
  );
  let destroy = () => undefined as void;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = boxes.filter((b) => b.box.checked);
    if (chosen.length < MIN_COMPARED || chosen.length > MAX_COMPARED) {
      status.textContent = `Choose between ${MIN_COMPARED} and ${MAX_COMPARED} backtests`;
      return;
    }
    status.textContent = "";
    destroy();
    destroy = await drawComparison(app.api, chosen.map((c) => ({ backtest: c.backtest, name: c.name })), result);
  });
  root.append(form, result);
  if (preselected.size >= MIN_COMPARED) form.requestSubmit();
  return () => destroy();
};

async function drawComparison(api: Parameters<Page>[0]["api"], chosen: { backtest: Backtest; name: string }[], into: HTMLElement): Promise<() => void> {
  const curves = await Promise.all(chosen.map((c) => api.equity(c.backtest.id, 1000)));
  const full = await Promise.all(chosen.map((c) => api.backtest(c.backtest.id)));
  const { box, chart } = chartBox("Equity curves normalised to 100", 340);
  curves.forEach((curve, i) => {
    const values = normalise(curve.data.map((p) => p.equity));
    chart.addSeries(LineSeries, { color: COLORS[i % COLORS.length], lineWidth: 2, title: `${i + 1}. ${chosen[i].backtest.strategy_name}` })
      .setData(increasing(curve.data.map((p, j) => ({ time: epochSeconds(p.timestamp) as UTCTimestamp, value: values[j] }))));
  });
  fitWhenShown(chart);
  const split = full.map((b) => splitSummary(b.performance_summary));
  const fields = orderedFields([...new Set(split.flatMap((s) => s.scalars.map(([field]) => field)))]);
  const currencies = full.map((b) => quoteAsset(b.symbol));
  const sideRows = SIDES.filter((side) => split.some((s) => s.sides[side])).flatMap((side) => Object.entries(SIDE_FIELDS).map(([field, info]) => [
    `${side === "long" ? "Long" : "Short"} · ${info.label}`,
    ...split.map((s, i) => formatValue(s.sides[side]?.[field] ?? null, info.unit, currencies[i])),
  ]));
  const metrics = table("Metrics side by side", ["Metric", ...chosen.map((c, i) => `${i + 1}. ${c.name}`)], [
    ["Final balance", ...full.map((b, i) => formatValue(b.final_balance, "money", currencies[i]))],
    ...fields.map((field) => {
      const info = describeField(field);
      return [info.label, ...split.map((s, i) => formatValue(s.scalars.find(([name]) => name === field)?.[1] ?? null, info.unit, currencies[i]))];
    }),
    ...sideRows,
  ], { class: "metrics" }, { rowHeaders: true });
  into.replaceChildren(h("section", { class: "compare" }, h("h2", {}, "Equity, rebased to 100"), box, metrics));
  return () => removeChart(chart);
}
