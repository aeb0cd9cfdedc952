/** Walk-forwards on the optimizations page: each one's windows (train and test ranges, the chosen
 * parameters, in-sample and out-of-sample results), its efficiency, the stitched out-of-sample
 * equity and how stable the chosen parameters were. One still running is followed until it ends. */
import type { Api, WalkForward } from "../api";
import { h, table } from "../dom";
import { formatValue, label, quoteAsset, time, unitOf } from "../logic/format";
import { waitFor } from "../logic/polling";
import { plot, svg } from "../logic/svg";

const ACTIVE = new Set(["pending", "running"]);

export async function walkForwardsSection(api: Api): Promise<{ element: HTMLElement; stop: () => void }> {
  const listing = await api.walkForwards();
  const section = h("section", {}, h("h2", {}, "Walk-forwards"));
  let stopped = false;
  if (!listing.data.length) {
    section.append(h("p", { class: "muted" }, "No walk-forward yet: the form above runs one (Run walk-forward)."));
    return { element: section, stop: () => undefined };
  }
  const details = await Promise.all(listing.data.slice(0, 5).map((w) => (w.status === "completed" ? api.walkForward(w.id) : Promise.resolve(w))));
  for (const walkForward of details) {
    const view = walkForwardView(walkForward);
    section.append(view);
    if (!ACTIVE.has(walkForward.status)) continue;
    // followed by polling: its status events name it as an optimization, and polling never misses the end
    void waitFor(() => api.walkForward(walkForward.id), (w) => stopped || !ACTIVE.has(w.status), 1000, 600_000).then((done) => {
      if (!stopped) view.replaceWith(walkForwardView(done));
    });
  }
  return { element: section, stop: () => (stopped = true) };
}

function walkForwardView(walkForward: WalkForward): HTMLElement {
  const currency = quoteAsset(String(walkForward.symbol));
  const title = `${String(walkForward.strategy_name)} · ${String(walkForward.symbol)} ${String(walkForward.timeframe)} · train ${walkForward.train}, test ${walkForward.test}${walkForward.anchored ? ", anchored" : ""}`;
  const result = walkForward.result;
  if (!result) {
    const error = walkForward.error ? `: ${String(walkForward.error)}` : "";
    return h("article", { class: "card walk-forward" }, h("h3", {}, title), h("p", { class: "status", "aria-live": "polite" }, `${walkForward.status}${error}`));
  }
  const objective = String(walkForward.objective);
  const rows = result.windows.map((w) => [
    String(w.window + 1), `${time(w.train_start)} → ${time(w.train_end)}`, `${time(w.test_start)} → ${time(w.test_end)}`,
    Object.entries(w.params).map(([k, v]) => `${k}=${v}`).join(", "),
    formatValue(w.in_sample[objective] ?? null, unitOf(objective), currency), formatValue(w.out_of_sample[objective] ?? null, unitOf(objective), currency),
    formatValue(w.final_balance, "money", currency),
  ]);
  const stability = Object.entries(result.parameter_stability ?? {});
  return h("article", { class: "card walk-forward" }, h("h3", {}, title),
    h("p", {}, `Walk-forward efficiency ${formatValue(result.walk_forward_efficiency, "ratio")} · out-of-sample final balance `,
      h("strong", {}, formatValue(result.out_of_sample.final_balance, "money", currency)),
      ` · OOS annualised return ${formatValue(result.out_of_sample.annualised_return, "percent")}`),
    table(`Windows of the walk-forward (${label(objective)} in and out of sample)`,
      ["Window", "Train", "Test", "Chosen parameters", `${label(objective)} in sample`, `${label(objective)} out of sample`, "Balance after"], rows),
    result.out_of_sample.equity?.equity.length ? equityLine(result.out_of_sample.equity, currency) : "",
    stability.length ? table("Parameter stability across windows", ["Parameter", "Chosen per window", "Most chosen", "Share", "Coefficient of variation"],
      stability.map(([name, s]) => [name, s.values.join(", "), String(s.mode), formatValue(100 * s.mode_share, "percent"), formatValue(s.coefficient_of_variation, "ratio")]), {}, { rowHeaders: true }) : "",
  );
}

/** The stitched out-of-sample equity (capital carried from window to window) as an SVG line. */
function equityLine(equity: { timestamps: string[]; equity: number[] }, currency: string): HTMLElement {
  const [width, height] = [720, 180];
  const { line, range } = plot(equity.timestamps.map((t) => Date.parse(t)), equity.equity, width, height);
  const box = h("div", { class: "chart", role: "img", "aria-label": "Out-of-sample equity" });
  box.innerHTML = svg(width, height, `<polyline points="${line(equity.equity)}" fill="none" stroke="#1a7f37" stroke-width="2" vector-effect="non-scaling-stroke" />`);
  const [first, last] = [equity.equity[0], equity.equity[equity.equity.length - 1]];
  return h("figure", {}, box, h("figcaption", { class: "muted" },
    `Out-of-sample equity, the test windows stitched: ${formatValue(first, "money", currency)} → ${formatValue(last, "money", currency)} (lowest ${formatValue(range[0], "money", currency)}, highest ${formatValue(range[1], "money", currency)}).`));
}
