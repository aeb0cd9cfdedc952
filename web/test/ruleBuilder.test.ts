// @vitest-environment happy-dom
/** The rule builder in a DOM, driven by its labels as a person would, against the API's own
 * indicator catalogue (shared/indicators/catalogue.json, which `GET /api/v1/indicators` serves).
 * `fixtures/mavp-entry-rules.json` is what it must emit for a MAVP rule whose periods are another
 * indicator; tests/api/test_api_strategies.py posts that file and gets 201. */
import { beforeEach, describe, expect, it } from "vitest";
import served from "../../shared/indicators/catalogue.json";
import mavpRulesJson from "./fixtures/mavp-entry-rules.json";
import type { RuleConditionJson, RuleGroupJson } from "../src/api";
import { ruleBuilder, type Builder } from "../src/components/ruleBuilder";
import { normaliseCatalogue } from "../src/logic/catalogue";
import { emptyGroup, fromJson, toJson } from "../src/logic/rules";

const catalogue = normaliseCatalogue({ data: served });
const mavpRules = mavpRulesJson as RuleGroupJson;

/** The control a visible label names (exactly), as Playwright's getByLabel(..., { exact: true }). */
function control<T extends HTMLElement = HTMLSelectElement>(root: HTMLElement, text: string): T {
  const labels = [...root.querySelectorAll("label")].filter((label) => label.textContent === text);
  expect(labels.map((label) => label.textContent), `one control labelled "${text}"`).toEqual([text]);
  return root.querySelector<T>(`#${labels[0].htmlFor}`)!;
}
const labelsIn = (root: HTMLElement) => [...root.querySelectorAll("label")].map((label) => label.textContent);

function choose(root: HTMLElement, label: string, value: string): void {
  const select = control(root, label);
  expect([...select.options].map((o) => o.value)).toContain(value);
  select.value = value;
  select.dispatchEvent(new Event("change"));
}
function type(root: HTMLElement, label: string, text: string): void {
  const field = control<HTMLInputElement>(root, label);
  field.value = text;
  field.dispatchEvent(new Event("input"));
}
function click(root: HTMLElement, name: string): void {
  [...root.querySelectorAll("button")].find((b) => b.textContent === name)!.click();
}

describe("rule builder: series parameters (mavp's periods)", () => {
  let builder: Builder;
  beforeEach(() => {
    builder = ruleBuilder("Entry rules", "entry_rules", emptyGroup(), catalogue);
    document.body.replaceChildren(builder.element);
  });

  it("reads the catalogue's series parameters and the kinds each accepts", () => {
    const mavp = catalogue.find((info) => info.name === "mavp")!;
    expect(mavp.seriesParams).toEqual([{ name: "periods", accepts: ["price", "number", "indicator"], description: expect.stringContaining("period at each bar") }]);
    expect(mavp.params.map((p) => p.name)).toEqual(["minperiod", "maxperiod", "matype"]);
    expect(catalogue.find((info) => info.name === "sma")!.seriesParams).toBeUndefined();
  });

  it("builds a MAVP rule whose periods are aroon's up line: exactly the JSON the API accepts", () => {
    const root = builder.element;
    click(root, "Add condition");
    choose(root, "Indicator", "mavp");
    // Given mavp, its periods get the value's operand picker, with the kinds the catalogue lists
    expect([...control(root, "Periods from").options].map((o) => o.textContent)).toEqual(["Price field", "Number", "Indicator"]);
    expect(toJson(builder.value()).conditions[0]).toMatchObject({ params: { periods: "close" } }); // the first kind it accepts
    choose(root, "Periods from", "indicator");
    choose(root, "Periods indicator", "aroon");
    type(root, "Periods period", "10");
    choose(root, "Periods output", "aroonup");
    type(root, "Max period", "50");
    choose(root, "Comparator", "<");
    expect(control(root, "Price field").value).toBe("close");
    // Then the builder emits the JSON the API validates, periods nested where the API reads it
    expect(toJson(builder.value())).toEqual(mavpRules);
    // and each control names the field a 422 would name
    expect(control<HTMLInputElement>(root, "Periods period").dataset.field).toBe("entry_rules.conditions[0].params.periods.params.period");
    expect(control(root, "Periods indicator").dataset.field).toBe("entry_rules.conditions[0].params.periods.indicator");
    expect(control(root, "Periods from").dataset.field).toBe("entry_rules.conditions[0].params.periods");
  });

  it("periods may be a number or a price field, and mavp as the compared value has its own", () => {
    const root = builder.element;
    click(root, "Add condition");
    choose(root, "Indicator", "mavp");
    choose(root, "Periods from", "number");
    type(root, "Periods", "$len");
    expect(control(root, "Periods from").dataset.field).toBeUndefined(); // the number itself names the path
    expect(control<HTMLInputElement>(root, "Periods").dataset.field).toBe("entry_rules.conditions[0].params.periods");
    choose(root, "Compare with", "indicator");
    choose(root, "Value indicator", "mavp");
    choose(root, "Value periods from", "price");
    choose(root, "Value periods price field", "volume");
    expect(toJson(builder.value()).conditions[0]).toEqual({
      indicator: "mavp", params: { minperiod: 2, maxperiod: 30, matype: 0, periods: "$len" }, comparator: ">",
      value: { indicator: "mavp", params: { minperiod: 2, maxperiod: 30, matype: 0, periods: "volume" } },
    });
  });

  it("shows a strategy's MAVP rule from JSON and gives it back unchanged", () => {
    builder.set(fromJson(mavpRules));
    const root = builder.element;
    expect(control(root, "Periods from").value).toBe("indicator");
    expect(control(root, "Periods indicator").value).toBe("aroon");
    expect(control<HTMLInputElement>(root, "Periods period").value).toBe("10");
    expect(control(root, "Periods output").value).toBe("aroonup");
    expect(toJson(builder.value())).toEqual(mavpRules);
    // a scalar periods in the JSON ("close", 14) is shown as its kind
    builder.set(fromJson({ conditions: [{ indicator: "mavp", params: { periods: 14 }, comparator: ">", value: 0 }] }));
    expect(control(root, "Periods from").value).toBe("number");
    expect(control<HTMLInputElement>(root, "Periods").value).toBe("14");
    expect(toJson(builder.value()).conditions[0]).toMatchObject({ params: { periods: 14 } });
  });

  it("an indicator object under a parameter the catalogue does not know still gets an operand picker", () => {
    builder.set(fromJson({ conditions: [{ indicator: "sma", params: { period: 5, other: { indicator: "rsi", params: {} } }, comparator: ">", value: 0 }] }));
    expect(labelsIn(builder.element)).toContain("Other indicator");
    expect((toJson(builder.value()).conditions[0] as RuleConditionJson).params).toEqual({ period: 5, other: { indicator: "rsi", params: {} } });
  });
});
