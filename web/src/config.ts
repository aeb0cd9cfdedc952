/** Where the API lives: `config.json` next to index.html, written at deploy time (CloudFront)
 * or by the local stack (`make dev`). The dashboard is always on another origin than the API. */
export interface AppConfig {
  apiUrl: string; // REST base URL, without /api/v1
  wsUrl: string;
}

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: ${response.status}`);
  const config = (await response.json()) as Partial<AppConfig>;
  if (!config.apiUrl || !config.wsUrl) throw new Error("config.json needs apiUrl and wsUrl");
  return { apiUrl: config.apiUrl.replace(/\/+$/, ""), wsUrl: config.wsUrl };
}
