/** Hash routes (`#/backtests/<id>`): the static hosting (S3 + CloudFront) needs no rewrites. */
export interface Route<T> {
  pattern: string; // e.g. "/backtests/:id"
  page: T;
  public?: boolean; // reachable signed out
}

export function matchRoute<T>(routes: Route<T>[], path: string): { route: Route<T>; params: Record<string, string> } | null {
  const parts = path.split("?")[0].split("/").filter(Boolean);
  for (const route of routes) {
    const expected = route.pattern.split("/").filter(Boolean);
    if (expected.length !== parts.length) continue;
    const params: Record<string, string> = {};
    if (expected.every((part, i) => (part.startsWith(":") ? ((params[part.slice(1)] = decodeURIComponent(parts[i])), true) : part === parts[i]))) {
      return { route, params: { ...params, ...queryOf(path) } };
    }
  }
  return null;
}

function queryOf(path: string): Record<string, string> {
  const query = path.split("?")[1];
  return query ? Object.fromEntries(new URLSearchParams(query)) : {};
}
