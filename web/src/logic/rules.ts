/** The rule builder's model: groups (and/or, nested) of conditions, as the API's strategy JSON.
 *
 * Every node knows its JSON path (`entry_rules.conditions[0].params.period`), which is how the
 * API names a field in a 422: the builder puts each message next to the control of that path. */
import type { OperandKind, ParamsJson, RuleConditionJson, RuleGroupJson } from "../api";

export const COMPARATORS = [">", ">=", "<", "<=", "==", "crosses_above", "crosses_below"] as const;
export const PRICE_FIELDS = ["open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4"] as const;

/** An operand: a condition's `value`, or a series parameter's (mavp's `periods`). */
export type Value =
  | { kind: "number"; number: number | string }
  | { kind: "price"; field: string }
  | { kind: "indicator"; indicator: string; params: Params };

/** An indicator's parameters; a series parameter's value is an operand (a `Value`) once the
 * builder has shown it, else as the JSON had it (`"close"`, `14`). */
export type Params = { [key: string]: ParamValue };
export type ParamValue = number | string | Value;

export interface Condition {
  type: "condition";
  indicator: string;
  params: Params;
  comparator: string;
  value: Value;
}
export interface Group {
  type: "group";
  operator: "and" | "or";
  conditions: (Condition | Group)[];
}

export function emptyGroup(operator: "and" | "or" = "and"): Group {
  return { type: "group", operator, conditions: [] };
}

export function newCondition(indicator = "sma", params: Params = { period: 14 }): Condition {
  return { type: "condition", indicator, params, comparator: ">", value: { kind: "price", field: "close" } };
}

export function toJson(group: Group): RuleGroupJson {
  return {
    operator: group.operator,
    conditions: group.conditions.map((node) => (node.type === "group" ? toJson(node) : conditionJson(node))),
  };
}

function conditionJson(condition: Condition): RuleConditionJson {
  return { indicator: condition.indicator, params: paramsJson(condition.params), comparator: condition.comparator, value: valueJson(condition.value) };
}

function paramsJson(params: Params): ParamsJson {
  return Object.fromEntries(Object.entries(params).map(([key, value]) => [key, typeof value === "object" ? valueJson(value) : value]));
}

function valueJson(value: Value): RuleConditionJson["value"] {
  if (value.kind === "price") return value.field;
  if (value.kind === "indicator") return { indicator: value.indicator, params: paramsJson(value.params) };
  const text = String(value.number).trim();
  // "$name" references config.parameters; anything else numeric is sent as a number, else as typed
  return text.startsWith("$") ? text : text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** The model of an API rule group (unknown shapes are kept as they are, for the JSON mode). */
export function fromJson(json: RuleGroupJson | undefined | null): Group {
  if (!json || !Array.isArray(json.conditions)) return emptyGroup();
  return {
    type: "group",
    operator: json.operator === "or" ? "or" : "and",
    conditions: json.conditions.map((node) => ("conditions" in node ? fromJson(node as RuleGroupJson) : conditionModel(node as RuleConditionJson))),
  };
}

function conditionModel(json: RuleConditionJson): Condition {
  return { type: "condition", indicator: json.indicator, params: paramsModel(json.params), comparator: json.comparator, value: valueModel(json.value) };
}

/** Indicator objects (a series parameter's) become operands; words and numbers stay as they are:
 * only the catalogue knows whether `"close"` is a series parameter's price field or a `source`. */
function paramsModel(params: ParamsJson | undefined): Params {
  return Object.fromEntries(Object.entries(params ?? {}).map(([key, value]) => [key, typeof value === "object" && value !== null ? valueModel(value) : value]));
}

/** The operand a JSON value is (a series parameter's scalar included: a price field or a number). */
export function valueModel(value: RuleConditionJson["value"] | Value): Value {
  if (typeof value === "object" && value !== null) return "kind" in value ? value : { kind: "indicator", indicator: value.indicator, params: paramsModel(value.params) };
  if (typeof value === "string" && (PRICE_FIELDS as readonly string[]).includes(value)) return { kind: "price", field: value };
  return { kind: "number", number: value };
}

export function conditionPath(groupPath: string, index: number): string {
  return `${groupPath}.conditions[${index}]`;
}

/** The operand a builder control starts with when the user picks its kind. */
export function newOperand(kind: OperandKind, indicator: (name: string) => Params): Value {
  return kind === "number" ? { kind: "number", number: 0 } : kind === "price" ? { kind: "price", field: "close" } : { kind: "indicator", indicator: "sma", params: indicator("sma") };
}

/** The indicators a strategy reads (entry and exit rules, values and series parameters
 * included), each once. */
export function indicatorsOf(...groups: Group[]): { indicator: string; params: Params }[] {
  const seen = new Map<string, { indicator: string; params: Params }>();
  const use = (indicator: string, params: Params) => {
    seen.set(`${indicator}:${JSON.stringify(params)}`, { indicator, params });
    for (const value of Object.values(params)) if (typeof value === "object" && value.kind === "indicator") use(value.indicator, value.params);
  };
  const visit = (group: Group) => {
    for (const node of group.conditions) {
      if (node.type === "group") visit(node);
      else {
        use(node.indicator, node.params);
        if (node.value.kind === "indicator") use(node.value.indicator, node.value.params);
      }
    }
  };
  groups.forEach(visit);
  return [...seen.values()];
}

/** A copy of a strategy with swept values applied, as the optimizer applies them: a bare name
 * sets `config.parameters[name]`, a dotted path (`config.stop_loss`,
 * `entry_rules.conditions[0].params.period`) sets that field. */
export function withParameters<T extends { config: Record<string, unknown> }>(strategy: T, values: Record<string, number>): T {
  const copy = structuredClone(strategy) as T & Record<string, unknown>;
  for (const [name, value] of Object.entries(values)) {
    if (!/[.[]/.test(name)) {
      copy.config.parameters = { ...((copy.config.parameters as Record<string, number>) ?? {}), [name]: value };
      continue;
    }
    const keys = name.replace(/\[(\d+)\]/g, ".$1").split(".");
    let node: Record<string, unknown> = copy;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1]] = value;
  }
  return copy;
}

/** `$name` references resolved from `config.parameters` (for drawing overlays; a series
 * parameter's operand is no number and is left out). */
export function resolveParams(params: Params, parameters: Record<string, number> = {}): Record<string, number> {
  const resolved: Record<string, number> = {};
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === "object") continue;
    const number = typeof value === "string" && value.startsWith("$") ? parameters[value.slice(1)] : Number(value);
    if (Number.isFinite(number)) resolved[name] = number;
  }
  return resolved;
}
