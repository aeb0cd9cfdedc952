/** Sign up and sign in. The token is kept for the tab (sessionStorage). */
import type { App, Page } from "../app";
import { h, input, labelled } from "../dom";
import { formStatus, submitting } from "../forms";

function credentials(withName: boolean) {
  const email = input({ type: "email", name: "email", autocomplete: "email", required: true });
  const password = input({ type: "password", name: "password", autocomplete: withName ? "new-password" : "current-password", required: true });
  const name = input({ type: "text", name: "name", autocomplete: "name", required: true });
  return { email, password, name };
}

async function signIn(app: App, email: string, password: string): Promise<void> {
  const session = await app.api.signIn(email, password);
  app.session.save(session.token, session.user);
  app.navigate("#/backtests");
}

export const signInPage: Page = async (app, root) => {
  const { email, password } = credentials(false);
  const status = formStatus();
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    labelled("Email", email, "email"),
    labelled("Password", password, "password"),
    status,
    h("button", { type: "submit" }, "Sign in"),
    h("p", {}, "No account? ", h("a", { href: "#/signup" }, "Sign up")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, () => signIn(app, email.value, password.value));
  });
  root.append(form);
  email.focus();
};

export const signUpPage: Page = async (app, root) => {
  const { email, password, name } = credentials(true);
  const status = formStatus();
  const form = h("form", { class: "card narrow", "aria-labelledby": "signup-title" },
    h("h1", { id: "signup-title" }, "Sign up"),
    labelled("Name", name, "name"),
    labelled("Email", email, "email"),
    labelled("Password", password, "password"),
    status,
    h("button", { type: "submit" }, "Sign up"),
    h("p", {}, "Have an account? ", h("a", { href: "#/signin" }, "Sign in")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submitting(form, status, async () => {
      await app.api.signUp(email.value, password.value, name.value);
      await signIn(app, email.value, password.value);
    });
  });
  root.append(form);
  name.focus();
};
