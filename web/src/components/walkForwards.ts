/** Walk-forwards on the optimizations page: each one's windows (train and test ranges, the chosen
 * parameters, in-sample and out-of-sample results), its efficiency and out-of-sample balance. */
import type { Api, WalkForward } from "../api";
import { h, table } from "../dom";
import { formatValue, label, quoteAsset, time, unitOf } from "../logic/format";

export async function walkForwardsSection(api: Api): Promise<HTMLElement> {
  const listing = await api.walkForwards();
  const section = h("section", {}, h("h2", {}, "Walk-forwards"));
  if (!listing.data.length) {
    section.append(h("p", { class: "muted" }, "No walk-forward yet: POST /api/v1/walk_forwards runs one."));
    return section;
  }
  const details = await Promise.all(listing.data.slice(0, 5).map((w) => (w.status === "completed" ? api.walkForward(w.id) : Promise.resolve(w))));
  for (const walkForward of details) section.append(walkForwardView(walkForward));
  return section;
}

function walkForwardView(walkForward: WalkForward): HTMLElement {
  const currency = quoteAsset(String(walkForward.symbol));
  const title = `${String(walkForward.strategy_name)} · ${String(walkForward.symbol)} ${String(walkForward.timeframe)} · train ${walkForward.train}, test ${walkForward.test}${walkForward.anchored ? ", anchored" : ""}`;
  const result = walkForward.result;
  if (!result) return h("article", { class: "card" }, h("h3", {}, title), h("p", { class: "status" }, walkForward.status));
  const objective = String(walkForward.objective);
  const rows = result.windows.map((w) => [
    String(w.window + 1), `${time(w.train_start)} → ${time(w.train_end)}`, `${time(w.test_start)} → ${time(w.test_end)}`,
    Object.entries(w.params).map(([k, v]) => `${k}=${v}`).join(", "),
    formatValue(w.in_sample[objective] ?? null, unitOf(objective), currency), formatValue(w.out_of_sample[objective] ?? null, unitOf(objective), currency),
    formatValue(w.final_balance, "money", currency),
  ]);
  return h("article", { class: "card" }, h("h3", {}, title),
    h("p", {}, `Walk-forward efficiency ${formatValue(result.walk_forward_efficiency, "ratio")} · out-of-sample final balance `,
      h("strong", {}, formatValue(result.out_of_sample.final_balance, "money", currency)),
      ` · OOS annualised return ${formatValue(result.out_of_sample.annualised_return, "percent")}`),
    table(`Windows of the walk-forward (${label(objective)} in and out of sample)`,
      ["Window", "Train", "Test", "Chosen parameters", `${label(objective)} in sample`, `${label(objective)} out of sample`, "Balance after"], rows));
}
