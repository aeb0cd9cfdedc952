/** The signed-in session, kept for the tab only (sessionStorage): closing the tab signs out. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
}

const KEY = "backtest-session";

export class Session {
  constructor(private readonly storage: Storage = sessionStorage) {}

  get token(): string | null {
    return this.read()?.token ?? null;
  }

  get user(): SessionUser | null {
    return this.read()?.user ?? null;
  }

  save(token: string, user: SessionUser): void {
    this.storage.setItem(KEY, JSON.stringify({ token, user }));
  }

  clear(): void {
    this.storage.removeItem(KEY);
  }

  private read(): { token: string; user: SessionUser } | null {
    const raw = this.storage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  }
}
