/** The dashboard: one page module per route; this file wires them to the API, session and socket. */
import { Api } from "./api";
import type { App, Page } from "./app";
import { loadConfig } from "./config";
import { h } from "./dom";
import { Live } from "./live";
import { matchRoute, type Route } from "./router";
import { Session } from "./session";
import { signInPage, signUpPage } from "./pages/auth";
import { backtestsPage } from "./pages/backtests";
import { backtestPage } from "./pages/backtest";
import { comparePage } from "./pages/compare";
import { strategiesPage, strategyEditPage } from "./pages/strategies";
import { optimizationsPage, optimizationPage, optimizationResultPage } from "./pages/optimizations";
import { transactionsPage } from "./pages/transactions";
import { marketDataPage } from "./pages/market";

const ROUTES: Route<Page>[] = [
  { pattern: "/signin", page: signInPage, public: true },
  { pattern: "/signup", page: signUpPage, public: true },
  { pattern: "/strategies", page: strategiesPage },
  { pattern: "/strategies/new", page: strategyEditPage },
  { pattern: "/strategies/:id", page: strategyEditPage },
  { pattern: "/backtests", page: backtestsPage },
  { pattern: "/backtests/:id", page: backtestPage },
  { pattern: "/compare", page: comparePage },
  { pattern: "/optimizations", page: optimizationsPage },
  { pattern: "/optimizations/:id", page: optimizationPage },
  { pattern: "/optimizations/:id/results/:rank", page: optimizationResultPage },
  { pattern: "/transactions", page: transactionsPage },
  { pattern: "/market", page: marketDataPage },
];

const NAV: [string, string][] = [
  ["#/backtests", "Backtests"],
  ["#/strategies", "Strategies"],
  ["#/compare", "Compare"],
  ["#/optimizations", "Optimizations"],
  ["#/transactions", "Transactions"],
  ["#/market", "Market data"],
];

async function start(): Promise<void> {
  const root = document.getElementById("app")!;
  const config = await loadConfig();
  const session = new Session();
  let leave: (() => void) | void;
  const app: App = {
    config,
    session,
    api: new Api(config.apiUrl, session, () => {
      session.clear();
      app.navigate("#/signin");
    }),
    live: new Live(config.wsUrl, () => session.token),
    navigate: (hash) => {
      if (location.hash === hash) void render();
      else location.hash = hash;
    },
  };

  let rendering = 0;
  async function render(): Promise<void> {
    const generation = ++rendering;
    leave?.();
    leave = undefined;
    const path = location.hash.replace(/^#/, "") || "/backtests";
    const matched = matchRoute(ROUTES, path) ?? matchRoute(ROUTES, "/backtests")!;
    if (!matched.route.public && !session.token) return app.navigate("#/signin");
    header(app);
    // each page draws into its own view: one left while it still loads adds nothing to the next
    const view = h("div", { class: "view" });
    root.replaceChildren(view);
    try {
      const cleanup = await matched.route.page(app, view, matched.params);
      // left before it finished loading: its cleanup runs now, not in place of the next page's
      if (generation !== rendering) cleanup?.();
      else leave = cleanup;
    } catch (error) {
      view.append(h("p", { class: "error", role: "alert" }, `Could not load this page: ${(error as Error).message}`));
    }
    if (generation === rendering) root.focus({ preventScroll: true });
  }

  window.addEventListener("hashchange", () => void render());
  await render();
}

function header(app: App): void {
  const nav = document.getElementById("nav")!;
  const who = document.getElementById("who")!;
  if (!app.session.token) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  nav.replaceChildren(...NAV.map(([href, text]) => h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : undefined }, text)));
  who.replaceChildren(
    h("span", {}, app.session.user?.name ?? ""),
    h("button", {
      type: "button",
      onclick: (async () => {
        await app.api.signOut().catch(() => undefined);
        app.session.clear();
        app.live.close();
        app.navigate("#/signin");
      }) as EventListener,
    }, "Sign out"),
  );
}

void start();
