/** Monte Carlo of a completed backtest (POST /backtests/{id}/monte_carlo): the percentiles of the
 * final balance, max drawdown and CAGR, the probability of ruin, and the equity path's percentile
 * bands (5-95, 25-75, median) drawn as an SVG. */
import type { Api, Backtest, MonteCarlo } from "../api";
import { h, input, labelled, select, table } from "../dom";
import { formStatus, submitting } from "../forms";
import { formatValue, quoteAsset } from "../logic/format";

const METHODS: [string, string][] = [
  ["trade_permutation", "Trade permutation"], ["trade_bootstrap", "Trade bootstrap"], ["block_bootstrap", "Block bootstrap (bars)"],
];

export function monteCarloSection(api: Api, backtest: Backtest): HTMLElement {
  const simulations = input({ type: "number", value: "1000", min: "1", max: "10000" });
  const method = select(METHODS, "trade_bootstrap");
  const block = input({ type: "number", value: "20", min: "1" });
  const seed = input({ type: "number", value: "0", min: "0" });
  const status = formStatus();
  const output = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "monte-carlo-title" },
    h("h2", { id: "monte-carlo-title" }, "Monte Carlo"),
    h("div", { class: "row" }, labelled("Simulations", simulations, "simulations"), labelled("Method", method, "method"),
      labelled("Block (bars)", block, "block"), labelled("Seed", seed, "seed")),
    status, h("button", { type: "submit" }, "Run Monte Carlo"), output);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      const answer = await api.monteCarlo(backtest.id, {
        simulations: Number(simulations.value), method: method.value, block: Number(block.value), seed: Number(seed.value),
      });
      output.replaceChildren(...monteCarloView(answer, quoteAsset(backtest.symbol)));
    });
  });
  return form;
}

function monteCarloView(answer: MonteCarlo, currency: string): HTMLElement[] {
  const rows: [string, "final_balance" | "max_drawdown_percentage" | "cagr", "money" | "percent"][] = [
    ["Final balance", "final_balance", "money"], ["Max drawdown", "max_drawdown_percentage", "percent"], ["CAGR", "cagr", "percent"],
  ];
  const quantiles = ["p5", "p25", "p50", "p75", "p95", "mean"] as const;
  const figures = table("Monte Carlo percentiles", ["", "5 %", "25 %", "50 %", "75 %", "95 %", "Mean"], rows.map(([name, key, unit]) => [
    name, ...quantiles.map((q) => formatValue(answer[key][q], unit, currency)),
  ]));
  const ruin = h("p", {}, `Probability of ruin (equity below ${answer.ruin_threshold * 100} % of the initial balance): `,
    h("strong", {}, `${(answer.probability_of_ruin * 100).toFixed(1)} %`));
  return [ruin, figures, bandsChart(answer)];
}

/** The bands as an SVG: 5-95 and 25-75 areas, the median line; x = trades (or bars) taken. */
function bandsChart(answer: MonteCarlo): HTMLElement {
  const bands = answer.equity_bands;
  const [width, height, pad] = [720, 260, 8];
  const values = [...bands.p5, ...bands.p95];
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const last = bands.steps[bands.steps.length - 1] || 1;
  const x = (step: number) => pad + ((width - 2 * pad) * step) / last;
  const y = (value: number) => height - pad - ((height - 2 * pad) * (value - lo)) / (hi - lo || 1);
  const points = (series: number[]) => series.map((v, i) => `${x(bands.steps[i]).toFixed(1)},${y(v).toFixed(1)}`);
  const line = (series: number[]) => points(series).join(" ");
  const area = (upper: number[], lower: number[]) => [...points(upper), ...points(lower).reverse()].join(" ");
  const box = h("div", { class: "chart", role: "img", "aria-label": `Monte Carlo equity bands over ${last} ${bands.unit}s` });
  box.innerHTML = `<svg viewBox="0 0 ${width} ${height}" width="100%" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <polygon points="${area(bands.p95, bands.p5)}" fill="#0969da" fill-opacity="0.15" />
    <polygon points="${area(bands.p75, bands.p25)}" fill="#0969da" fill-opacity="0.3" />
    <polyline points="${line(bands.p50)}" fill="none" stroke="#0969da" stroke-width="2" />
  </svg>`;
  return h("figure", {}, box, h("figcaption", { class: "muted" },
    `Equity after each ${bands.unit}: 5–95 % and 25–75 % of the simulations shaded, the median as a line.`));
}
