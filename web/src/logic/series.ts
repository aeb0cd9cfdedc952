/** Pure transformations behind the charts: normalised curves, trade markers of the visible
 * range, locating trades by time in the paged trades listing, heatmaps. */
import type { EquityPoint, Trade } from "../api";

/** Each curve rebased to 100 at its first point (compare view). */
export function normalise(values: number[]): number[] {
  const first = values.find((value) => value !== 0 && Number.isFinite(value));
  return first === undefined ? values.map(() => 100) : values.map((value) => (100 * value) / first);
}

/** The underwater curve: minus the drawdown percentage at each point. */
export function underwater(points: EquityPoint[]): { time: number; value: number }[] {
  return points.map((point) => ({ time: Math.floor(Date.parse(point.timestamp) / 1000), value: -point.drawdown_percentage }));
}

/** Points with strictly increasing times (lightweight-charts refuses repeats). */
export function increasing<T extends { time: number }>(points: T[]): T[] {
  const out: T[] = [];
  for (const point of points) if (!out.length || point.time > out[out.length - 1].time) out.push(point);
  return out;
}

export interface Marker {
  time: number;
  position: "aboveBar" | "belowBar";
  color: string;
  shape: "arrowUp" | "arrowDown" | "circle";
  text: string;
  id: string;
}

/** Entry and exit markers of the trades that touch [from, to] (epoch seconds), at most `limit`
 * markers (none beyond it: zoom in to see them), sorted by time. */
export function visibleMarkers(trades: Trade[], from: number, to: number, limit = 2000): Marker[] {
  const markers: Marker[] = [];
  for (const trade of trades) {
    const entry = Math.floor(Date.parse(trade.entry_time) / 1000);
    const exit = trade.exit_time ? Math.floor(Date.parse(trade.exit_time) / 1000) : null;
    const long = trade.side === "long";
    if (entry >= from && entry <= to) {
      markers.push({ time: entry, id: `${trade.id}:entry`, position: long ? "belowBar" : "aboveBar", color: long ? "#1a7f37" : "#cf222e", shape: long ? "arrowUp" : "arrowDown", text: long ? "Buy" : "Sell" });
    }
    if (exit !== null && exit >= from && exit <= to) {
      markers.push({ time: exit, id: `${trade.id}:exit`, position: long ? "aboveBar" : "belowBar", color: trade.pnl >= 0 ? "#0969da" : "#9a6700", shape: "circle", text: `${trade.exit_reason} ${trade.pnl >= 0 ? "+" : ""}${trade.pnl.toFixed(2)}` });
    }
    if (markers.length > limit) return [];
  }
  return markers.sort((a, b) => a.time - b.time);
}

/** The first page (1-based, of `perPage`) whose trades may enter at or after `time`, found by
 * bisecting pages on their first trade's entry time: trades are listed in entry order. */
export async function firstPageFrom(time: number, totalCount: number, perPage: number, firstEntryOfPage: (page: number) => Promise<number>): Promise<number> {
  let lo = 1;
  let hi = Math.max(1, Math.ceil(totalCount / perPage));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await firstEntryOfPage(mid)) <= time) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Cells of a two-parameter heatmap: the best objective value per (x, y) pair. */
export function heatmap(rows: { params: Record<string, number>; value: number | null }[], x: string, y: string, higherIsBetter = true): { xs: number[]; ys: number[]; cells: (number | null)[][] } {
  const xs = [...new Set(rows.map((row) => row.params[x]))].filter((v) => v !== undefined).sort((a, b) => a - b);
  const ys = [...new Set(rows.map((row) => row.params[y]))].filter((v) => v !== undefined).sort((a, b) => a - b);
  const cells: (number | null)[][] = ys.map(() => xs.map(() => null));
  for (const row of rows) {
    const i = ys.indexOf(row.params[y]);
    const j = xs.indexOf(row.params[x]);
    if (i < 0 || j < 0 || row.value === null) continue;
    const current = cells[i][j];
    if (current === null || (higherIsBetter ? row.value > current : row.value < current)) cells[i][j] = row.value;
  }
  return { xs, ys, cells };
}

/** Rows of a CSV with a header row (RFC 4180 quotes), as objects. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") row.push(cell), (cell = "");
    else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      row.push(cell), rows.push(row), (row = []), (cell = "");
    } else cell += char;
  }
  if (cell || row.length) row.push(cell), rows.push(row);
  const [header, ...body] = rows;
  return header ? body.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i] ?? ""]))) : [];
}
