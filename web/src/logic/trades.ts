/** Which columns a backtest's trades table shows. A position closed in parts (take-profit levels)
 * has one row per leg, so the leg column appears when the strategy has levels or a leg beyond the
 * first is seen; funding only for a backtest charged it (`metadata.funding`, or a non-zero
 * `funding_paid`): on spot data it is a column of zeros. */
import type { Summary } from "./format";

export type TradeColumn =
  | "number" | "side" | "leg" | "entry_time" | "entry_price" | "exit_time" | "exit_price" | "quantity"
  | "pnl" | "pnl_percentage" | "fees" | "funding" | "bars" | "mae_percentage" | "mfe_percentage" | "exit_reason";

export const TRADE_HEADERS: Record<TradeColumn, string> = {
  number: "#", side: "Side", leg: "Leg", entry_time: "Entry", entry_price: "Entry price", exit_time: "Exit", exit_price: "Exit price",
  quantity: "Quantity", pnl: "PnL", pnl_percentage: "PnL %", fees: "Fees", funding: "Funding", bars: "Bars",
  mae_percentage: "MAE %", mfe_percentage: "MFE %", exit_reason: "Exit reason",
};

export interface TradeTableOptions {
  legs: boolean;
  funding: boolean;
}

export function tradeColumns({ legs, funding }: TradeTableOptions): TradeColumn[] {
  return (Object.keys(TRADE_HEADERS) as TradeColumn[]).filter((column) => (column !== "leg" || legs) && (column !== "funding" || funding));
}

export function tradeTableOptions(config: Record<string, unknown> | null | undefined, metadata: Record<string, unknown> | null | undefined,
  summary: Summary | null | undefined, legSeen = false): TradeTableOptions {
  const levels = config?.take_profit_levels;
  const fundingPaid = summary?.funding_paid;
  return {
    legs: legSeen || (Array.isArray(levels) && levels.length > 0),
    funding: metadata?.funding === true || (typeof fundingPaid === "number" && fundingPaid !== 0),
  };
}
