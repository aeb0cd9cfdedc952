/** The rule builder: a group of conditions (and/or), nested groups, each condition an indicator
 * with its catalogue parameters, a comparator and a value (number, price field or indicator).
 * Every control carries the JSON path the API names in a 422 (`data-field`), so messages land
 * next to it. */
import type { IndicatorInfo, IndicatorParam } from "../api";
import { button, h, input, labelled, select } from "../dom";
import { isMaType, MA_TYPES, outputOf, readableName } from "../logic/catalogue";
import { COMPARATORS, PRICE_FIELDS, conditionPath, newCondition, type Condition, type Group, type Value } from "../logic/rules";

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

function defaults(catalogue: IndicatorInfo[], name: string): Record<string, number | string> {
  const info = catalogue.find((i) => i.name === name);
  return Object.fromEntries((info?.params ?? []).map((p) => [p.name, p.default]));
}

type Params = Record<string, number | string>;

/** The controls of an indicator's parameters: each catalogue parameter once (under whichever of
 * its keys the rule uses), choices and moving-average types as selects, the output of a
 * multi-output indicator, its price sources; then any other key the rule has (as text). */
function paramInputs(params: Params, indicator: string, path: string, catalogue: IndicatorInfo[], labelPrefix = ""): HTMLElement[] {
  const info = catalogue.find((i) => i.name === indicator);
  const title = (name: string) => (labelPrefix ? `${labelPrefix}${lowerFirst(readableName(name))}` : readableName(name));
  const has = (key: string) => Object.hasOwn(params, key);
  const shown = new Set<string>(["output"]);
  const controls: HTMLElement[] = [];
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
  for (const key of Object.keys(params).filter((k) => !shown.has(k))) controls.push(labelled(title(key), textControl(params, key), `${path}.params.${key}`));
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
  const kind = select([["number", "Number"], ["price", "Price field"], ["indicator", "Indicator"]], condition.value.kind, {
    onchange: ((e: Event) => {
      const next = (e.target as HTMLSelectElement).value as Value["kind"];
      condition.value = next === "number" ? { kind: "number", number: 0 } : next === "price" ? { kind: "price", field: "close" } : { kind: "indicator", indicator: "sma", params: defaults(catalogue, "sma") };
      redraw();
    }) as EventListener,
  });
  return h("div", { class: "condition" },
    labelled("Indicator", indicator, `${path}.indicator`),
    ...paramInputs(condition.params, condition.indicator, path, catalogue),
    labelled("Comparator", comparator, `${path}.comparator`),
    labelled("Compare with", kind),
    ...valueControls(condition, `${path}.value`, catalogue, redraw),
    button("Remove condition", remove, { class: "secondary" }),
    h("span", { class: "field-error", role: "alert", "data-error-for": path }),
  );
}

function valueControls(condition: Condition, path: string, catalogue: IndicatorInfo[], redraw: () => void): HTMLElement[] {
  const value = condition.value;
  if (value.kind === "number") {
    const control = input({ type: "text", inputmode: "decimal", value: String(value.number), size: 8 });
    control.addEventListener("input", () => (value.number = control.value));
    return [labelled("Value", control, path)];
  }
  if (value.kind === "price") {
    return [labelled("Price field", select([...PRICE_FIELDS], value.field, { onchange: ((e: Event) => (value.field = (e.target as HTMLSelectElement).value)) as EventListener }), path)];
  }
  const indicator = indicatorSelect(catalogue, value.indicator, (name) => {
    value.indicator = name;
    value.params = defaults(catalogue, name);
    redraw();
  });
  return [labelled("Value indicator", indicator, `${path}.indicator`), ...paramInputs(value.params, value.indicator, path, catalogue, "Value ")];
}

/** "Period" -> "period" after a prefix ("Value period"), but "MA type" and "%K period" stay. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
