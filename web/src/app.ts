/** What every page gets: the API client, the session, live updates, navigation. */
import type { Api } from "./api";
import type { AppConfig } from "./config";
import type { Live } from "./live";
import type { Session } from "./session";

export interface App {
  api: Api;
  session: Session;
  live: Live;
  config: AppConfig;
  navigate(hash: string): void;
}

/** A page draws itself into `root` and returns what to undo when leaving it (sockets, charts). */
export type Page = (app: App, root: HTMLElement, params: Record<string, string>) => Promise<(() => void) | void>;
