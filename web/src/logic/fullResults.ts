/** A sweep's best rows kept in full: the API re-runs the best FULL_RESULTS combinations once the
 * sweep is ranked (shared/optimizations/full_results.py) and serves each one's trades and equity
 * curve at `GET /optimizations/{id}/results/{rank}`. Any other row is a backtest away ("Run as
 * backtest"). */
export const FULL_RESULTS = 10;

/** The dashboard's page of a row's trades and equity; null for a row not kept in full. */
export function fullResultHref(optimizationId: string, rank: number | undefined, kept = FULL_RESULTS): string | null {
  if (rank === undefined || !Number.isInteger(rank) || rank < 1 || rank > kept) return null;
  return `#/optimizations/${encodeURIComponent(optimizationId)}/results/${rank}`;
}
