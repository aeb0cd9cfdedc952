/** Submitting a form to the API: the button disabled meanwhile, 422 details next to their fields. */
import { ApiError } from "./api";
import { clearFieldErrors, h, showFieldErrors } from "./dom";

export function formStatus(): HTMLElement {
  return h("p", { class: "form-status", role: "alert" });
}

export async function submitting<T>(form: HTMLElement, status: HTMLElement, action: () => Promise<T>): Promise<T | undefined> {
  const buttons = [...form.querySelectorAll<HTMLButtonElement>("button[type=submit]")];
  buttons.forEach((b) => (b.disabled = true));
  clearFieldErrors(form);
  status.textContent = "";
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError) {
      status.textContent = error.message;
      showFieldErrors(form, error.details, h("span"));
      const unplaced = error.details.filter((d) => !form.querySelector(`[data-error-for="${d.field}"]`) && !hasParentSlot(form, d.field));
      if (unplaced.length) status.textContent += ` — ${unplaced.map((d) => `${d.field}: ${d.message}`).join("; ")}`;
    } else status.textContent = (error as Error).message;
    return undefined;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function hasParentSlot(form: HTMLElement, field: string): boolean {
  for (let path = field; path; ) {
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    path = cut > 0 ? path.slice(0, cut) : "";
    if (path && form.querySelector(`[data-error-for="${path}"]`)) return true;
  }
  return false;
}
