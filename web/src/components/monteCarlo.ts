/** Monte Carlo of a completed backtest (POST /backtests/{id}/monte_carlo): the percentiles of the
 * final balance, max drawdown and CAGR, the probability of ruin, and the equity path's percentile
 * bands (5-95, 25-75, median) drawn as an SVG. */
import type { Api, Backtest, MonteCarlo } from "../api";
import { h, input, labelled, select, table } from "../dom";
import { formStatus, submitting } from "../forms";
import { formatValue, quoteAsset } from "../logic/format";
import { plot, svg } from "../logic/svg";

const METHODS: [string, string][] = [
  ["trade_permutation", "Trade permutation"], ["trade_bootstrap", "Trade bootstrap"], ["block_bootstrap", "Block bootstrap (bars)"],
];

/** `autoRun`: run it at once with the defaults (the optimization page's robustness check);
 * `title`: the form's heading. */
export function monteCarloSection(api: Api, backtest: Backtest, { autoRun = false, title = "Monte Carlo" } = {}): HTMLElement {
  const simulations = input({ type: "number", value: "1000", min: "1", max: "10000" });
  const method = select(METHODS, "trade_bootstrap");
  const block = input({ type: "number", value: "20", min: "1" });
  const seed = input({ type: "number", value: "0", min: "0" });
  const status = formStatus();
  const output = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "monte-carlo-title" },
    h("h2", { id: "monte-carlo-title" }, title),
    h("div", { class: "row" }, labelled("Simulations", simulations, "simulations"), labelled("Method", method, "method"),
      labelled("Block (bars)", block, "block"), labelled("Seed", seed, "seed")),
    status, h("button", { type: "submit" }, "Run Monte Carlo"), output);
  const run = () => void submitting(form, status, async () => {
    const answer = await api.monteCarlo(backtest.id, {
      simulations: Number(simulations.value), method: method.value, block: Number(block.value), seed: Number(seed.value),
    });
    output.replaceChildren(...monteCarloView(answer, quoteAsset(backtest.symbol)));
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  if (autoRun) run();
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
  return [ruin, figures, bandsChart(answer, currency)];
}

/** The bands as an SVG: 5-95 and 25-75 areas, the median line; x = trades (or bars) taken. */
function bandsChart(answer: MonteCarlo, currency: string): HTMLElement {
  const bands = answer.equity_bands;
  const [width, height] = [720, 260];
  const last = bands.steps[bands.steps.length - 1] || 1;
  const { line, area, range } = plot(bands.steps, [...bands.p5, ...bands.p95], width, height);
  const box = h("div", { class: "chart", role: "img", "aria-label": `Monte Carlo equity bands over ${last} ${bands.unit}s` });
  box.innerHTML = svg(width, height, `
    <polygon points="${area(bands.p95, bands.p5)}" fill="#0969da" fill-opacity="0.15" />
    <polygon points="${area(bands.p75, bands.p25)}" fill="#0969da" fill-opacity="0.3" />
    <polyline points="${line(bands.p50)}" fill="none" stroke="#0969da" stroke-width="2" vector-effect="non-scaling-stroke" />`);
  return h("figure", {}, box, h("figcaption", { class: "muted" },
    `Equity after each of ${last} ${bands.unit}s, from ${formatValue(range[0], "money", currency)} (bottom) to ${formatValue(range[1], "money", currency)} (top): 5–95 % and 25–75 % of the simulations shaded, the median as a line.`));
}
