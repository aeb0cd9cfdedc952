/** Tiny DOM helpers: elements, labelled form controls, tables, field errors. No framework. */
import type { FieldProblem } from "./api";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

let controlCount = 0;

/** A control with its visible <label>, and a slot for the API's message about `field`
 * (a dotted path of the request body, e.g. `entry_rules.conditions[0].params.period`). */
export function labelled(label: string, control: HTMLElement, field?: string): HTMLElement {
  control.id ||= `control-${++controlCount}`;
  if (field) control.dataset.field = field;
  const error = h("span", { class: "field-error", role: "alert" });
  if (field) error.dataset.errorFor = field;
  control.setAttribute("aria-describedby", (error.id = `${control.id}-error`));
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, error);
}

export function input(attrs: Attrs = {}): HTMLInputElement {
  return h("input", attrs);
}

export function select(options: (string | [string, string])[], value?: string, attrs: Attrs = {}): HTMLSelectElement {
  const element = h("select", attrs);
  for (const option of options) {
    const [optionValue, text] = Array.isArray(option) ? option : [option, option];
    element.append(h("option", { value: optionValue, selected: optionValue === value }, text));
  }
  if (value !== undefined) element.value = value;
  return element;
}

export function button(text: string, onClick: (event: Event) => void, attrs: Attrs = {}): HTMLButtonElement {
  return h("button", { type: "button", ...attrs, onclick: onClick as EventListener }, text);
}

/** A <table> with header cells; `rows` cells are text or nodes; with `rowHeaders` each row's
 * first cell is its header (`<th scope="row">`). */
export function table(caption: string, headers: string[], rows: Child[][], attrs: Attrs = {}, { rowHeaders = false } = {}): HTMLTableElement {
  const cell = (content: Child, i: number) => (rowHeaders && i === 0 ? h("th", { scope: "row" }, content) : h("td", {}, content));
  return h(
    "table",
    attrs,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map(cell)))),
  );
}

/** Show each problem next to the control that names its field (else in the form's summary). */
export function showFieldErrors(form: HTMLElement, problems: FieldProblem[], summary?: HTMLElement): void {
  clearFieldErrors(form);
  const unplaced: string[] = [];
  for (const problem of problems) {
    const slot = closestSlot(form, problem.field);
    if (slot) {
      slot.textContent = slot.textContent ? `${slot.textContent}; ${problem.message}` : problem.message;
      form.querySelector<HTMLElement>(`[data-field="${cssEscape(slot.dataset.errorFor ?? "")}"]`)?.setAttribute("aria-invalid", "true");
    } else unplaced.push(`${problem.field}: ${problem.message}`);
  }
  if (summary) summary.textContent = unplaced.join("\n");
}

export function clearFieldErrors(form: HTMLElement): void {
  form.querySelectorAll<HTMLElement>("[data-error-for]").forEach((slot) => (slot.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((control) => control.removeAttribute("aria-invalid"));
}

/** The slot of the field itself, or of its nearest parent path (`a.b[0].c` -> `a.b[0]` -> `a.b` -> `a`). */
function closestSlot(form: HTMLElement, field: string): HTMLElement | null {
  for (let path = field; path; path = parentPath(path)) {
    const slot = form.querySelector<HTMLElement>(`[data-error-for="${cssEscape(path)}"]`);
    if (slot) return slot;
  }
  return null;
}

export function parentPath(path: string): string {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut > 0 ? path.slice(0, cut) : "";
}

function cssEscape(value: string): string {
  return value.replace(/["\\]/g, "\\$&");
}

export function toast(message: string): void {
  const element = document.getElementById("toast");
  if (!element) return;
  element.textContent = message;
  element.classList.add("shown");
  window.setTimeout(() => element.classList.remove("shown"), 4000);
}

export function download(filename: string, content: string, type = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
