/** A small typed client of the REST API (`/api/v1`): one method per route the dashboard uses.
 * Errors come back as `ApiError` with the API's `{code, message, details[{field, message}]}`;
 * a 401 on an authenticated call also tells the app to go back to sign in. */
import type { Summary } from "./logic/format";
import type { Session, SessionUser } from "./session";

export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: FieldProblem[] = []) {
    super(message);
  }
}

export interface PageMeta {
  page: number;
  per_page: number;
  total_pages: number;
  total_count: number;
  offset: number;
}
export interface Listing<T> {
  data: T[];
  meta: PageMeta;
}

export type Json = Record<string, unknown>;
export interface RuleGroupJson {
  operator?: "and" | "or";
  conditions: (RuleConditionJson | RuleGroupJson)[];
}
/** An indicator as an operand: a condition's `value`, or a series parameter (mavp's `periods`). */
export interface OperandJson {
  indicator: string;
  params?: ParamsJson;
}
/** A parameter: a number, a word (`source`, `output`, a `$name`), or for a series parameter a
 * price field, a number or an indicator object. */
export type ParamJson = number | string | OperandJson;
export type ParamsJson = { [key: string]: ParamJson };
export interface RuleConditionJson {
  indicator: string;
  params?: ParamsJson;
  comparator: string;
  value: number | string | OperandJson;
}

export interface StrategyInput {
  name: string;
  description?: string;
  strategy_type?: string | null;
  entry_rules: RuleGroupJson;
  exit_rules: RuleGroupJson;
  /** with `config.direction: "both"`: the short side's rules (`entry_rules`/`exit_rules` are the long side's) */
  short_entry_rules?: RuleGroupJson | null;
  short_exit_rules?: RuleGroupJson | null;
  config: Json;
  is_public?: boolean;
}
export interface Strategy extends StrategyInput {
  id: string;
  owner_id: string;
  is_active: boolean;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}
export type StrategySummary = Omit<Strategy, "entry_rules" | "exit_rules" | "config">;

export type BacktestStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export interface Backtest {
  id: string;
  strategy_id: string;
  strategy_name: string;
  symbol: string;
  timeframe: string;
  start_time: string;
  end_time: string;
  initial_balance: number;
  final_balance: number | null;
  status: BacktestStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  metadata?: Json;
  performance_summary?: Summary | null;
  error?: string | null;
}
export interface BacktestInput {
  strategy_id: string;
  symbol: string;
  timeframe: string;
  start_time: string;
  end_time: string;
  initial_balance: number;
  metadata: { leverage: number; commission: number };
}

export interface Trade {
  id: string;
  backtest_id: string;
  entry_time: string;
  entry_price: number;
  exit_time: string | null;
  exit_price: number;
  quantity: number;
  side: "long" | "short";
  pnl: number;
  pnl_percentage: number;
  fees: number;
  funding: number;
  leg: number;
  mae?: number | null;
  mfe?: number | null;
  mae_percentage?: number | null;
  mfe_percentage?: number | null;
  bars?: number | null;
  entry_reason: string;
  exit_reason: string;
  created_at: string;
}
/** A trade of a run that is no stored backtest (an optimization's full result): no ids. */
export type RunTrade = Omit<Trade, "id" | "backtest_id" | "created_at">;
export interface TradeQuery {
  page?: number;
  per_page?: number;
  side?: "long" | "short";
  result?: "win" | "loss";
}

export interface EquityPoint {
  timestamp: string;
  equity: number;
  drawdown: number;
  drawdown_percentage: number;
  benchmark: number;
}
export interface EquityCurve {
  data: EquityPoint[];
  meta: { points: number; total_points: number };
}
export interface DrawdownPeriod {
  start: string;
  trough: string;
  recovery: string | null;
  depth: number;
  depth_percentage: number;
}

export interface Candle {
  timestamp: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface Optimization {
  id: string;
  strategy_id: string;
  status: BacktestStatus;
  progress: number;
  [field: string]: unknown;
}
export interface OptimizationResult {
  rank?: number;
  params: Record<string, number>;
  performance_summary: Record<string, number | null>;
  [field: string]: unknown;
}

export interface OptimizationFullResult extends OptimizationResult {
  rank: number;
  final_balance: number | null;
  objective_value: number | null;
  trades: Listing<RunTrade>;
  equity: EquityCurve;
}

export interface OptimizationEstimate {
  method: string;
  combination_count: number;
  batch_count: number;
  rounds: number;
  bars: number;
  concurrency: number;
  lambda_gb_seconds: number;
  estimated_cost_usd: number;
  eta_seconds: number;
}

export interface Percentiles {
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  mean: number;
}
export interface MonteCarlo {
  method: string;
  simulations: number;
  ruin_threshold: number;
  trades: number | null;
  final_balance: Percentiles;
  max_drawdown_percentage: Percentiles;
  cagr: Percentiles;
  probability_of_ruin: number;
  equity_bands: { unit: "trade" | "bar"; steps: number[]; p5: number[]; p25: number[]; p50: number[]; p75: number[]; p95: number[] };
}
export interface WalkForwardWindow {
  window: number;
  train_start: string;
  train_end: string;
  test_start: string;
  test_end: string;
  params: Record<string, number>;
  in_sample: Record<string, number | null>;
  out_of_sample: Record<string, number | null>;
  initial_balance: number;
  final_balance: number;
}
export interface WalkForward extends Optimization {
  train: string;
  test: string;
  anchored: boolean;
  result: null | {
    windows: WalkForwardWindow[];
    out_of_sample: { final_balance: number; annualised_return: number | null; equity?: { timestamps: string[]; equity: number[]; total_points: number } };
    walk_forward_efficiency: number | null;
    parameter_stability?: Record<string, { values: number[]; mode: number; mode_share: number; coefficient_of_variation: number | null }>;
  };
}

type Query = Record<string, string | number | undefined | null>;

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly session: Session,
    private readonly onUnauthorized: () => void = () => undefined,
  ) {}

  // ------------------------------------------------------------ plumbing
  async request<T>(method: string, path: string, options: { body?: unknown; query?: Query; accept?: string } = {}): Promise<T> {
    const response = await this.send(method, path, options);
    if (response.status === 204) return undefined as T;
    return options.accept && !options.accept.includes("json") ? ((await response.text()) as T) : ((await response.json()) as T);
  }

  url(path: string, query: Query = {}): string {
    const url = new URL(`${this.baseUrl}/api/v1${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  private async send(method: string, path: string, options: { body?: unknown; query?: Query; accept?: string }): Promise<Response> {
    const headers: Record<string, string> = { Accept: options.accept ?? "application/json" };
    const token = this.session.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.url(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (response.ok) return response;
    const payload = await response.json().catch(() => ({}));
    const error = payload?.error ?? {};
    if (response.status === 401 && token) this.onUnauthorized();
    throw new ApiError(response.status, error.code ?? "http_error", error.message ?? payload?.message ?? response.statusText, error.details ?? []);
  }

  // ------------------------------------------------------------ accounts
  signUp(email: string, password: string, name: string): Promise<SessionUser> {
    return this.request("POST", "/users", { body: { email, password, name } });
  }
  signIn(email: string, password: string): Promise<{ token: string; expires_at: string; user: SessionUser }> {
    return this.request("POST", "/sessions", { body: { email, password } });
  }
  signOut(): Promise<void> {
    return this.request("DELETE", "/sessions");
  }

  // ------------------------------------------------------------ strategies
  strategies(query: Query = {}): Promise<Listing<StrategySummary>> {
    return this.request("GET", "/strategies", { query: { per_page: 100, ...query } });
  }
  strategy(id: string): Promise<Strategy> {
    return this.request("GET", `/strategies/${id}`);
  }
  createStrategy(body: StrategyInput): Promise<Strategy> {
    return this.request("POST", "/strategies", { body });
  }
  updateStrategy(id: string, body: Partial<StrategyInput>): Promise<Strategy> {
    return this.request("PUT", `/strategies/${id}`, { body });
  }
  deleteStrategy(id: string): Promise<void> {
    return this.request("DELETE", `/strategies/${id}`);
  }
  indicators(): Promise<{ data: IndicatorInfo[] }> {
    return this.request("GET", "/indicators");
  }

  // ------------------------------------------------------------ backtests
  backtests(query: Query = {}): Promise<Listing<Backtest>> {
    return this.request("GET", "/backtests", { query: { per_page: 100, ...query } });
  }
  backtest(id: string): Promise<Backtest> {
    return this.request("GET", `/backtests/${id}`);
  }
  createBacktest(body: BacktestInput): Promise<Backtest> {
    return this.request("POST", "/backtests", { body });
  }
  cancelBacktest(id: string): Promise<unknown> {
    return this.request("POST", `/backtests/${id}/cancel`);
  }
  deleteBacktest(id: string): Promise<void> {
    return this.request("DELETE", `/backtests/${id}`);
  }
  equity(id: string, points = 1000): Promise<EquityCurve> {
    return this.request("GET", `/backtests/${id}/equity`, { query: { points } });
  }
  drawdowns(id: string, page = 1, perPage = 10): Promise<Listing<DrawdownPeriod>> {
    return this.request("GET", `/backtests/${id}/drawdowns`, { query: { page, per_page: perPage } });
  }
  trades(id: string, query: TradeQuery = {}): Promise<Listing<Trade>> {
    return this.request("GET", `/backtests/${id}/trades`, { query: { ...query } });
  }
  monteCarlo(id: string, body: Json): Promise<MonteCarlo> {
    return this.request("POST", `/backtests/${id}/monte_carlo`, { body });
  }
  /** A large CSV comes as a 303 to a presigned S3 URL: fetch follows it (dropping the bearer token,
   * as browsers do across origins) and the bucket's CORS rules let the page read it. */
  tradesCsv(id: string, query: TradeQuery = {}): Promise<string> {
    return this.request("GET", `/backtests/${id}/trades`, { query: { side: query.side, result: query.result, format: "csv" }, accept: "text/csv" });
  }

  // ------------------------------------------------------------ market data
  symbols(): Promise<{ data: string[] }> {
    return this.request("GET", "/market_data/symbols");
  }
  timeframes(symbol?: string): Promise<{ data: string[] }> {
    return this.request("GET", "/market_data/timeframes", { query: { symbol } });
  }
  candles(symbol: string, timeframe: string, query: { start_time?: string; end_time?: string; limit?: number } = {}): Promise<{ data: Candle[] }> {
    return this.request("GET", `/market_data/${symbol}/${timeframe}`, { query });
  }
  importCandles(body: { symbol: string; timeframe: string; file_format: string; file_content: string }): Promise<Json> {
    return this.request("POST", "/market_data/import", { body });
  }
  candleImport(id: string): Promise<Json> {
    return this.request("GET", `/market_data/imports/${id}`);
  }
  candleImports(): Promise<{ data: Json[] }> {
    return this.request("GET", "/market_data/imports");
  }

  // ------------------------------------------------------------ optimizations
  optimizations(query: Query = {}): Promise<Listing<Optimization>> {
    return this.request("GET", "/optimizations", { query: { per_page: 100, ...query } });
  }
  optimization(id: string): Promise<Optimization> {
    return this.request("GET", `/optimizations/${id}`);
  }
  createOptimization(body: Json): Promise<Optimization> {
    return this.request("POST", "/optimizations", { body });
  }
  /** `dry_run: true`: the combination and batch counts, AWS cost and ETA, before anything runs. */
  estimateOptimization(body: Json): Promise<OptimizationEstimate> {
    return this.request("POST", "/optimizations", { body });
  }
  optimizationResults(id: string, query: Query = {}): Promise<Listing<OptimizationResult>> {
    return this.request("GET", `/optimizations/${id}/results`, { query: { per_page: 100, ...query } });
  }
  /** One of the best ranks in full: a page of its trades (`page`, `per_page`) and its equity at `points`. */
  optimizationFullResult(id: string, rank: number, query: Query = {}): Promise<OptimizationFullResult> {
    return this.request("GET", `/optimizations/${id}/results/${rank}`, { query: { ...query } });
  }
  walkForwards(): Promise<Listing<WalkForward>> {
    return this.request("GET", "/walk_forwards", { query: { per_page: 100 } });
  }
  createWalkForward(body: Json): Promise<WalkForward> {
    return this.request("POST", "/walk_forwards", { body });
  }
  walkForward(id: string): Promise<WalkForward> {
    return this.request("GET", `/walk_forwards/${id}`);
  }

  // ------------------------------------------------------------ transactions
  importTransactions(body: Json): Promise<Json> {
    return this.request("POST", "/transactions/import", { body });
  }
  transactionImport(id: string): Promise<Json> {
    return this.request("GET", `/transactions/imports/${id}`);
  }
  transactions(query: Query = {}): Promise<Listing<Json>> {
    return this.request("GET", "/transactions", { query });
  }
  replay(body: Json): Promise<{ replay_id: string; backtest_id: string; status: string }> {
    return this.request("POST", "/transactions/replay", { body });
  }
  replayResult(id: string): Promise<Json> {
    return this.request("GET", `/transactions/replays/${id}`);
  }
}

export interface IndicatorParam {
  /** the key the builder writes (the strategy language's alias when it names this one alone) */
  name: string;
  default: number | string;
  min?: number;
  max?: number;
  integer?: boolean;
  choices?: string[];
  /** every key that sets this parameter: `name` first, then the canonical name and aliases */
  keys?: string[];
}
export interface IndicatorInfo {
  name: string;
  description?: string;
  group?: string;
  params: IndicatorParam[];
  outputs: string[];
  defaultOutput?: string;
  outputAliases?: Record<string, string>;
  source?: boolean;
  sources?: { name: string; default: string }[];
  /** parameters that take a whole series (mavp's `periods`), and the operand kinds each accepts */
  seriesParams?: SeriesParam[];
}
export interface SeriesParam {
  name: string;
  accepts: OperandKind[];
  description?: string;
}
export type OperandKind = "number" | "price" | "indicator";
