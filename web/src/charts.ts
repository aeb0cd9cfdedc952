/** lightweight-charts, set up the way every chart of the dashboard looks. Each chart's container
 * is an image for assistive technology, named by its `aria-label` ("Price chart", ...). */
import { ColorType, createChart, type DeepPartial, type IChartApi, type ChartOptions } from "lightweight-charts";
import { h } from "./dom";

export function chartBox(label: string, height = 320): { box: HTMLElement; chart: IChartApi } {
  const box = h("div", { class: "chart", role: "img", "aria-label": label, style: `height:${height}px` });
  const options: DeepPartial<ChartOptions> = {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "#ffffff" }, textColor: "#24292f", attributionLogo: true },
    grid: { vertLines: { color: "#eef1f4" }, horzLines: { color: "#eef1f4" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderVisible: false },
  };
  const chart = createChart(box, options);
  return { box, chart };
}

export const COLORS = ["#0969da", "#8250df", "#bf3989", "#1a7f37", "#9a6700", "#cf222e", "#57606a"];

export function timeframeSeconds(timeframe: string): number {
  const unit = timeframe.slice(-1);
  const count = Number(timeframe.slice(0, -1));
  return count * ({ m: 60, h: 3600, d: 86_400, w: 604_800 } as Record<string, number>)[unit];
}

const removed = new WeakSet<IChartApi>();

/** Remove a chart (once): a page's cleanup. What is still pending for it (a frame, a timer, a
 * request) asks `isRemoved` first: a removed chart throws "Object is disposed" at any call. */
export function removeChart(chart: IChartApi): void {
  if (removed.has(chart)) return;
  removed.add(chart);
  chart.remove();
}

export function isRemoved(chart: IChartApi): boolean {
  return removed.has(chart);
}

/** Fit the time scale once the chart is in the page and has its width (autoSize measures it then). */
export function fitWhenShown(chart: IChartApi): void {
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (!isRemoved(chart)) chart.timeScale().fitContent();
  }));
}
