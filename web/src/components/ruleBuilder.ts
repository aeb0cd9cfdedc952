/** The rule builder: a group of conditions (and/or), nested groups, each condition an indicator
 * with its catalogue parameters, a comparator and a value (number, price field or indicator).
 * Every control carries the JSON path the API names in a 422 (`data-field`), so messages land
 * next to it. */
import type { IndicatorInfo } from "../api";
import { button, h, input, labelled, select } from "../dom";
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
        group.conditions.push(newCondition(catalogue[1]?.name ?? "sma", defaults(catalogue, catalogue[1]?.name ?? "sma")));
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

function defaults(catalogue: IndicatorInfo[], name: string): Record<string, number> {
  const info = catalogue.find((i) => i.name === name);
  return Object.fromEntries((info?.params ?? []).map((p) => [p.name, p.default]));
}

function paramInputs(params: Record<string, number | string>, indicator: string, path: string, catalogue: IndicatorInfo[], labelPrefix = ""): HTMLElement[] {
  const info = catalogue.find((i) => i.name === indicator);
  const names = [...new Set([...(info?.params ?? []).map((p) => p.name), ...Object.keys(params)])];
  return names.map((name) => {
    const control = input({ type: "text", inputmode: "decimal", value: String(params[name] ?? ""), size: 6 });
    control.addEventListener("input", () => {
      const text = control.value.trim();
      if (text === "") delete params[name];
      else params[name] = text.startsWith("$") || !Number.isFinite(Number(text)) ? text : Number(text);
    });
    return labelled(`${labelPrefix}${capital(name.replace(/_/g, " "))}`, control, `${path}.params.${name}`);
  });
}

function conditionView(condition: Condition, path: string, catalogue: IndicatorInfo[], redraw: () => void, remove: () => void): HTMLElement {
  const names = catalogue.map((i) => i.name);
  if (!names.includes(condition.indicator)) names.push(condition.indicator);
  const indicator = select(names, condition.indicator, {
    onchange: ((e: Event) => {
      condition.indicator = (e.target as HTMLSelectElement).value;
      condition.params = defaults(catalogue, condition.indicator);
      redraw();
    }) as EventListener,
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
  const indicator = select(catalogue.map((i) => i.name), value.indicator, {
    onchange: ((e: Event) => {
      value.indicator = (e.target as HTMLSelectElement).value;
      value.params = defaults(catalogue, value.indicator);
      redraw();
    }) as EventListener,
  });
  return [labelled("Value indicator", indicator, `${path}.indicator`), ...paramInputs(value.params, value.indicator, path, catalogue, "Value ")];
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
