/** The rule builder: a group of conditions (and/or), nested groups, each condition an indicator
 * with its catalogue parameters, a comparator and a value (number, price field or indicator).
 * A series parameter (mavp's `periods`) gets the same operand picker as the value, limited to
 * the kinds the catalogue says it accepts. Every control carries the JSON path the API names in
 * a 422 (`data-field`), so messages land next to it. */
import type { IndicatorInfo, IndicatorParam, OperandKind } from "../api";
import { button, h, input, labelled, select } from "../dom";
import { isMaType, MA_TYPES, outputOf, readableName } from "../logic/catalogue";
import { COMPARATORS, PRICE_FIELDS, conditionPath, newCondition, newOperand, valueModel, type Condition, type Group, type Params, type Value } from "../logic/rules";

export interface Builder {
  element: HTMLElement;
  value(): Group;
  set(group: Group): void;
}

export function ruleBuilder(title: string, path: string, initial: Group, catalogue: IndicatorInfo[]): Builder {
  let model: Group = structuredClone(initial);
  const element = h("fieldset", { class: "rules" });
  const redraw = () => element.replaceChildren(h("legend", {}, title), groupView(model, path, catalogue, redraw, null));
  redraw();
  return {
    element,
    value: () => structuredClone(model),
    set: (group) => {
      model = structuredClone(group);
      redraw();
    },
  };
}

function groupView(group: Group, path: string, catalogue: IndicatorInfo[], redraw: () => void, remove: (() => void) | null): HTMLElement {
  const operator = select([["and", "all (and)"], ["or", "any (or)"]], group.operator, { onchange: ((e: Event) => (group.operator = (e.target as HTMLSelectElement).value as "and" | "or")) as EventListener });
  const items = group.conditions.map((node, index) => {
    const at = conditionPath(path, index);
    const drop = () => {
      group.conditions.splice(index, 1);
      redraw();
    };
    return node.type === "group" ? groupView(node, at, catalogue, redraw, drop) : conditionView(node, at, catalogue, redraw, drop);
  });
  const slot = h("span", { class: "field-error", role: "alert" });
  slot.dataset.errorFor = path;
  return h("div", { class: "group" },
    h("div", { class: "group-head" },
      labelled("Match", operator, `${path}.operator`),
      button("Add condition", () => {
        // a moving average is the usual first condition, whatever the catalogue's order
        const first = catalogue.some((i) => i.name === "sma") ? "sma" : (catalogue[0]?.name ?? "sma");
        group.conditions.push(newCondition(first, defaults(catalogue, first)));
        redraw();
      }),
      button("Add group", () => {
        group.conditions.push({ type: "group", operator: group.operator === "and" ? "or" : "and", conditions: [newCondition("sma", defaults(catalogue, "sma"))] });
        redraw();
      }),
      remove && button("Remove group", remove),
    ),
    slot,
    h("ol", { class: "conditions" }, ...items.map((item) => h("li", {}, item))),
  );
}

/** A new indicator's parameters: the catalogue's defaults, and each series parameter as the
 * first kind of operand it accepts. */
function defaults(catalogue: IndicatorInfo[], name: string): Params {
  const info = catalogue.find((i) => i.name === name);
  const params: Params = Object.fromEntries((info?.params ?? []).map((p) => [p.name, p.default]));
  for (const series of info?.seriesParams ?? []) params[series.name] = newOperand(series.accepts[0], (next) => defaults(catalogue, next));
  return params;
}

/** The controls of an indicator's parameters: its series parameters as operand pickers, each
 * catalogue parameter once (under whichever of its keys the rule uses), choices and
 * moving-average types as selects, the output of a multi-output indicator, its price sources;
 * then any other key the rule has (as text, or as an operand when it holds an indicator). */
function paramInputs(params: Params, indicator: string, path: string, catalogue: IndicatorInfo[], redraw: () => void, labelPrefix = ""): HTMLElement[] {
  const info = catalogue.find((i) => i.name === indicator);
  const title = (name: string) => (labelPrefix ? `${labelPrefix}${lowerFirst(readableName(name))}` : readableName(name));
  const has = (key: string) => Object.hasOwn(params, key);
  const shown = new Set<string>(["output"]);
  const controls: HTMLElement[] = [];
  const seriesInput = (key: string, accepts: readonly OperandKind[]) => {
    shown.add(key);
    // the builder edits the operand in place: a scalar from the JSON ("close", 14) becomes one
    const value = (params[key] = valueModel(params[key] ?? newOperand(accepts[0], (next) => defaults(catalogue, next))));
    controls.push(...operandPicker(value, accepts, seriesLabels(title(key)), `${path}.params.${key}`, catalogue, redraw, (next) => (params[key] = next)));
  };
  for (const series of info?.seriesParams ?? []) seriesInput(series.name, series.accepts);
  for (const param of info?.params ?? []) {
    const keys = param.keys ?? [param.name];
    const key = keys.find(has) ?? param.name;
    const done = shown.has(key);
    keys.forEach((k) => shown.add(k));
    if (done) continue; // an alias that sets several parameters (bbands' std_dev): one control
    controls.push(labelled(title(key), paramControl(params, key, param), `${path}.params.${key}`));
  }
  if (info && info.outputs.length > 1) {
    const options = info.outputs.map((name) => [name, `${readableName(name)} (${name})`] as [string, string]);
    const current = outputOf(info, params.output) ?? info.defaultOutput ?? info.outputs[0];
    const control = select(options, current, { onchange: ((e: Event) => (params.output = (e.target as HTMLSelectElement).value)) as EventListener });
    controls.push(labelled(`${labelPrefix}${labelPrefix ? "output" : "Output"}`, control, `${path}.params.output`));
  }
  for (const source of info?.sources ?? (info?.source ? [{ name: "source", default: "close" }] : [])) {
    shown.add(source.name);
    const control = select([["", `default (${source.default})`], ...PRICE_FIELDS.map((field) => [field, field] as [string, string])], String(params[source.name] ?? ""), {
      onchange: ((e: Event) => {
        const value = (e.target as HTMLSelectElement).value;
        if (value) params[source.name] = value;
        else delete params[source.name];
      }) as EventListener,
    });
    controls.push(labelled(title(source.name), control, `${path}.params.${source.name}`));
  }
  for (const key of Object.keys(params).filter((k) => !shown.has(k))) {
    if (typeof params[key] === "object") seriesInput(key, VALUE_KINDS);
    else controls.push(labelled(title(key), textControl(params, key), `${path}.params.${key}`));
  }
  return controls;
}

function paramControl(params: Params, key: string, param: IndicatorParam): HTMLElement {
  const value = params[key];
  if (typeof value === "string" && value.startsWith("$")) return textControl(params, key, param); // a swept $reference
  const choose = (options: [string, string][], numeric: boolean) => {
    const current = String(value ?? param.default);
    if (!options.some(([v]) => v === current)) options.push([current, current]);
    return select(options, current, { onchange: ((e: Event) => {
      const chosen = (e.target as HTMLSelectElement).value;
      params[key] = numeric ? Number(chosen) : chosen;
    }) as EventListener });
  };
  if (param.choices) return choose(param.choices.map((c) => [c, c]), false);
  if (isMaType(param.name) && param.integer !== false) {
    const [lo, hi] = [param.min ?? 0, Math.min(param.max ?? MA_TYPES.length - 1, MA_TYPES.length - 1)];
    return choose(MA_TYPES.map((name, i) => [String(i), `${i} · ${name}`] as [string, string]).filter((_, i) => i >= lo && i <= hi), true);
  }
  return textControl(params, key, param);
}

function textControl(params: Params, key: string, param?: IndicatorParam): HTMLInputElement {
  const control = input({ type: "text", inputmode: "decimal", value: String(params[key] ?? ""), size: 6, placeholder: param ? String(param.default) : undefined, title: param?.keys?.join(" = ") });
  control.addEventListener("input", () => {
    const text = control.value.trim();
    if (text === "") delete params[key];
    else params[key] = text.startsWith("$") || !Number.isFinite(Number(text)) ? text : Number(text);
  });
  return control;
}

/** The catalogue as a select, grouped (overlap, momentum, ...) when the catalogue says so. */
function indicatorSelect(catalogue: IndicatorInfo[], value: string, onchange: (name: string) => void): HTMLSelectElement {
  const text = (info: IndicatorInfo) => (info.description ? `${info.name} · ${info.description}` : info.name);
  const element = h("select", { class: "indicator-select", onchange: ((e: Event) => onchange((e.target as HTMLSelectElement).value)) as EventListener });
  const groups = new Map<string, IndicatorInfo[]>();
  for (const info of catalogue) groups.set(info.group ?? "", [...(groups.get(info.group ?? "") ?? []), info]);
  for (const [group, infos] of groups) {
    const options = infos.map((info) => h("option", { value: info.name }, text(info)));
    if (group) element.append(h("optgroup", { label: readableName(group) }, ...options));
    else element.append(...options);
  }
  if (!catalogue.some((info) => info.name === value)) element.append(h("option", { value }, value));
  element.value = value;
  return element;
}

function conditionView(condition: Condition, path: string, catalogue: IndicatorInfo[], redraw: () => void, remove: () => void): HTMLElement {
  const indicator = indicatorSelect(catalogue, condition.indicator, (name) => {
    condition.indicator = name;
    condition.params = defaults(catalogue, name);
    redraw();
  });
  const comparators: string[] = [...COMPARATORS];
  if (!comparators.includes(condition.comparator)) comparators.push(condition.comparator);
  const comparator = select(comparators, condition.comparator, { onchange: ((e: Event) => (condition.comparator = (e.target as HTMLSelectElement).value)) as EventListener });
  return h("div", { class: "condition" },
    labelled("Indicator", indicator, `${path}.indicator`),
    ...paramInputs(condition.params, condition.indicator, path, catalogue, redraw),
    labelled("Comparator", comparator, `${path}.comparator`),
    ...operandPicker(condition.value, VALUE_KINDS, VALUE_LABELS, `${path}.value`, catalogue, redraw, (next) => (condition.value = next)),
    button("Remove condition", remove, { class: "secondary" }),
    h("span", { class: "field-error", role: "alert", "data-error-for": path }),
  );
}

/** What an operand picker's controls are called: a condition's value ("Compare with", "Value
 * indicator", "Value period") or a series parameter's ("Periods from", "Periods indicator",
 * "Periods period"). */
interface OperandLabels {
  kind: string;
  number: string;
  price: string;
  indicator: string;
  prefix: string;
}

const VALUE_KINDS: readonly OperandKind[] = ["number", "price", "indicator"];
const KIND_NAMES: Record<OperandKind, string> = { number: "Number", price: "Price field", indicator: "Indicator" };
const VALUE_LABELS: OperandLabels = { kind: "Compare with", number: "Value", price: "Price field", indicator: "Value indicator", prefix: "Value " };

function seriesLabels(title: string): OperandLabels {
  return { kind: `${title} from`, number: title, price: `${title} price field`, indicator: `${title} indicator`, prefix: `${title} ` };
}

/** An operand at `path`: its kind (those `accepts` names), then a number, a price field or an
 * indicator with its parameters. Picking another kind starts a new operand and hands it to `set`. */
function operandPicker(value: Value, accepts: readonly OperandKind[], labels: OperandLabels, path: string, catalogue: IndicatorInfo[], redraw: () => void, set: (value: Value) => void): HTMLElement[] {
  const kinds = accepts.includes(value.kind) ? accepts : [...accepts, value.kind];
  const kind = select(kinds.map((k) => [k, KIND_NAMES[k]] as [string, string]), value.kind, {
    onchange: ((e: Event) => {
      set(newOperand((e.target as HTMLSelectElement).value as OperandKind, (name) => defaults(catalogue, name)));
      redraw();
    }) as EventListener,
  });
  // an indicator operand has no control of its own path: a message about the whole operand lands by its kind
  return [labelled(labels.kind, kind, value.kind === "indicator" ? path : undefined), ...operandControls(value, labels, path, catalogue, redraw)];
}

function operandControls(value: Value, labels: OperandLabels, path: string, catalogue: IndicatorInfo[], redraw: () => void): HTMLElement[] {
  if (value.kind === "number") {
    const control = input({ type: "text", inputmode: "decimal", value: String(value.number), size: 8 });
    control.addEventListener("input", () => (value.number = control.value));
    return [labelled(labels.number, control, path)];
  }
  if (value.kind === "price") {
    return [labelled(labels.price, select([...PRICE_FIELDS], value.field, { onchange: ((e: Event) => (value.field = (e.target as HTMLSelectElement).value)) as EventListener }), path)];
  }
  const indicator = indicatorSelect(catalogue, value.indicator, (name) => {
    value.indicator = name;
    value.params = defaults(catalogue, name);
    redraw();
  });
  return [labelled(labels.indicator, indicator, `${path}.indicator`), ...paramInputs(value.params, value.indicator, path, catalogue, redraw, labels.prefix)];
}

/** "Period" -> "period" after a prefix ("Value period"), but "MA type" and "%K period" stay. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
