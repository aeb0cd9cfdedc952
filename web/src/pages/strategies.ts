/** Strategies: list, create, edit, delete; rules in the builder or as JSON. */
import type { Strategy, StrategyInput } from "../api";
import type { Page } from "../app";
import { ruleBuilder } from "../components/ruleBuilder";
import { button, h, input, labelled, select, table, toast } from "../dom";
import { formStatus, submitting } from "../forms";
import { catalogue } from "../logic/catalogue";
import { time } from "../logic/format";
import { emptyGroup, fromJson, newCondition, toJson } from "../logic/rules";

export const strategiesPage: Page = async (app, root) => {
  const { data } = await app.api.strategies();
  const mine = data.filter((s) => s.owner_id === app.session.user?.id);
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Strategies"), h("a", { class: "button", href: "#/strategies/new" }, "New strategy")),
    table("Your strategies", ["Name", "Type", "Public", "Updated", ""], mine.map((s) => [
      h("a", { href: `#/strategies/${s.id}` }, s.name),
      s.strategy_type ?? "",
      s.is_public ? "yes" : "no",
      time(s.updated_at),
      button("Delete", async () => {
        if (!confirm(`Delete strategy "${s.name}"?`)) return;
        await app.api.deleteStrategy(s.id);
        toast(`Deleted ${s.name}`);
        app.navigate("#/strategies");
      }, { "aria-label": `Delete ${s.name}`, class: "secondary" }),
    ])),
  );
};

const CONFIG_FIELDS: [string, string][] = [
  ["stop_loss", "Stop loss %"],
  ["take_profit", "Take profit %"],
  ["trailing_stop", "Trailing stop %"],
  ["slippage", "Slippage %"],
  ["risk_percentage", "Risk %"],
  ["quantity", "Quantity"],
  ["notional", "Notional"],
];

export const strategyEditPage: Page = async (app, root, params) => {
  const existing: Strategy | null = params.id ? await app.api.strategy(params.id) : null;
  const indicators = await catalogue(app.api);
  const name = input({ type: "text", value: existing?.name ?? "", required: true });
  const description = input({ type: "text", value: existing?.description ?? "" });
  const strategyType = input({ type: "text", value: existing?.strategy_type ?? "" });
  const entry = ruleBuilder("Entry rules", "entry_rules", existing ? fromJson(existing.entry_rules) : { ...emptyGroup(), conditions: [newCondition()] }, indicators);
  const exit = ruleBuilder("Exit rules", "exit_rules", existing ? fromJson(existing.exit_rules) : emptyGroup("or"), indicators);
  const shortEntry = ruleBuilder("Short entry rules", "short_entry_rules", fromJson(existing?.short_entry_rules), indicators);
  const shortExit = ruleBuilder("Short exit rules", "short_exit_rules", fromJson(existing?.short_exit_rules), indicators);
  const config = { ...(existing?.config ?? {}) } as Record<string, unknown>;
  // "both": one position at a time, long by entry/exit rules, short by the short rules (a reversal closes then opens)
  const direction = select([["long", "long"], ["short", "short"], ["both", "both (long and short)"]], String(config.direction ?? "long"));
  const shortSide = h("div", { class: "short-side" }, shortEntry.element, shortExit.element);
  const showShortSide = () => (shortSide.hidden = direction.value !== "both");
  direction.addEventListener("change", showShortSide);
  showShortSide();
  const sizing = select(["all_in", "percent_of_equity", "fixed_quantity", "fixed_notional", "risk_based"], String(config.position_sizing ?? "all_in"));
  const numbers = CONFIG_FIELDS.map(([field, text]) => [field, text, input({ type: "text", inputmode: "decimal", value: config[field] === undefined ? "" : String(config[field]), size: 8 })] as const);
  const parameters = input({ type: "text", placeholder: "fast=10, slow=50", value: Object.entries((config.parameters ?? {}) as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(", ") });
  const json = h("textarea", { rows: 24, cols: 80, spellcheck: "false" });
  const jsonMode = input({ type: "checkbox" });
  const status = formStatus();

  const body = (): StrategyInput => {
    const values: Record<string, unknown> = { ...config, direction: direction.value, position_sizing: sizing.value };
    for (const [field, , control] of numbers) {
      const text = control.value.trim();
      if (text === "") delete values[field];
      else values[field] = Number.isFinite(Number(text)) ? Number(text) : text;
    }
    const parsed = Object.fromEntries(parameters.value.split(",").map((pair) => pair.split("=").map((s) => s.trim())).filter(([k, v]) => k && v !== undefined).map(([k, v]) => [k, Number.isFinite(Number(v)) ? Number(v) : v]));
    if (Object.keys(parsed).length) values.parameters = parsed;
    else delete values.parameters;
    const both = direction.value === "both" ? { short_entry_rules: toJson(shortEntry.value()), short_exit_rules: toJson(shortExit.value()) } : {};
    return { name: name.value, description: description.value, strategy_type: strategyType.value || null, entry_rules: toJson(entry.value()), exit_rules: toJson(exit.value()), ...both, config: values };
  };
  /** The builder's controls from a strategy's JSON (back from JSON mode): rules, sides and config. */
  const fill = (parsed: StrategyInput) => {
    entry.set(fromJson(parsed.entry_rules));
    exit.set(fromJson(parsed.exit_rules));
    shortEntry.set(fromJson(parsed.short_entry_rules));
    shortExit.set(fromJson(parsed.short_exit_rules));
    name.value = parsed.name ?? name.value;
    const next = (parsed.config ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(config)) delete config[key];
    Object.assign(config, next);
    direction.value = String(next.direction ?? "long");
    sizing.value = String(next.position_sizing ?? "all_in");
    for (const [field, , control] of numbers) control.value = next[field] === undefined ? "" : String(next[field]);
    parameters.value = Object.entries((next.parameters ?? {}) as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(", ");
    showShortSide();
  };
  const builder = h("div", { class: "builder" },
    entry.element,
    exit.element,
    shortSide,
    h("fieldset", { class: "config" }, h("legend", {}, "Config"),
      labelled("Direction", direction, "config.direction"),
      labelled("Position sizing", sizing, "config.position_sizing"),
      ...numbers.map(([field, text, control]) => labelled(text, control, `config.${field}`)),
      labelled("Parameters", parameters, "config.parameters"),
    ),
  );
  const jsonPane = h("div", { hidden: true }, labelled("Strategy JSON", json, "json"));
  jsonMode.addEventListener("change", () => {
    if (jsonMode.checked) {
      json.value = JSON.stringify(body(), null, 2);
    } else {
      try {
        fill(JSON.parse(json.value) as StrategyInput);
      } catch {
        status.textContent = "The JSON does not parse";
        jsonMode.checked = true;
        return;
      }
    }
    builder.hidden = jsonMode.checked;
    jsonPane.hidden = !jsonMode.checked;
  });

  const form = h("form", { class: "card", "aria-labelledby": "strategy-title" },
    h("h1", { id: "strategy-title" }, existing ? `Edit ${existing.name}` : "New strategy"),
    labelled("Name", name, "name"),
    labelled("Description", description, "description"),
    labelled("Type", strategyType, "strategy_type"),
    labelled("JSON mode", jsonMode),
    builder,
    jsonPane,
    status,
    h("button", { type: "submit" }, existing ? "Save strategy" : "Create strategy"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      const payload = jsonMode.checked ? (JSON.parse(json.value) as StrategyInput) : body();
      const saved = existing ? await app.api.updateStrategy(existing.id, payload) : await app.api.createStrategy(payload);
      toast(`Saved ${saved.name}`);
      app.navigate("#/strategies");
    });
  });
  root.append(form);
};
