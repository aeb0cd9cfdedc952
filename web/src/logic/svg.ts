/** The SVG element of a plot: stretched to its box's width (lines keep their stroke width). */
export function svg(width: number, height: number, body: string): string {
  return `<svg viewBox="0 0 ${width} ${height}" width="100%" height="${height}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">${body}</svg>`;
}

/** Points of line and band charts drawn as SVG (Monte Carlo bands, a walk-forward's equity): x
 * and y scaled into a width x height box with `pad` around, the lowest value at the bottom. */
export interface Plot {
  /** the lowest and highest value shown */
  range: [number, number];
  /** "x,y x,y ..." of one series */
  line(values: number[]): string;
  /** the polygon between two series (upper left to right, lower back) */
  area(upper: number[], lower: number[]): string;
}

export function plot(xs: number[], all: number[], width: number, height: number, pad = 8): Plot {
  const finite = all.filter(Number.isFinite);
  const [lo, hi] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1];
  const [x0, x1] = xs.length ? [xs[0], xs[xs.length - 1]] : [0, 1];
  const x = (v: number) => pad + ((width - 2 * pad) * (v - x0)) / (x1 - x0 || 1);
  const y = (v: number) => height - pad - ((height - 2 * pad) * (v - lo)) / (hi - lo || 1);
  const points = (values: number[]) => values.map((v, i) => `${x(xs[i]).toFixed(1)},${y(v).toFixed(1)}`);
  return {
    range: [lo, hi],
    line: (values) => points(values).join(" "),
    area: (upper, lower) => [...points(upper), ...points(lower).reverse()].join(" "),
  };
}
