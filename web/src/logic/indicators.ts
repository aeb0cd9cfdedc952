/** Price-scale overlays of a strategy's indicators, computed from the candles on the chart.
 * Conventions are the README's (TA-Lib's): undefined (NaN) during warm-up, EMA seeded by the SMA
 * of its first period, Bollinger bands with the population standard deviation, Donchian channels
 * including the current bar. Oscillators (RSI, MACD, ...) are not on the price scale: not drawn. */
export type Series = Float64Array;

export function sma(values: ArrayLike<number>, period: number): Series {
  const out = new Float64Array(values.length).fill(NaN);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= period) sum -= values[i - period];
    if (i >= period - 1) out[i] = sum / period;
  }
  return out;
}

export function ema(values: ArrayLike<number>, period: number): Series {
  const out = new Float64Array(values.length).fill(NaN);
  if (values.length < period) return out;
  const k = 2 / (period + 1);
  let value = 0;
  for (let i = 0; i < period; i++) value += values[i];
  value /= period;
  out[period - 1] = value;
  for (let i = period; i < values.length; i++) out[i] = value = (values[i] - value) * k + value;
  return out;
}

export function wma(values: ArrayLike<number>, period: number): Series {
  const out = new Float64Array(values.length).fill(NaN);
  const weights = (period * (period + 1)) / 2;
  for (let i = period - 1; i < values.length; i++) {
    let sum = 0;
    for (let j = 0; j < period; j++) sum += values[i - j] * (period - j);
    out[i] = sum / weights;
  }
  return out;
}

export function bbands(values: ArrayLike<number>, period: number, deviations: number): { middle: Series; upper: Series; lower: Series } {
  const middle = sma(values, period);
  const upper = new Float64Array(values.length).fill(NaN);
  const lower = new Float64Array(values.length).fill(NaN);
  for (let i = period - 1; i < values.length; i++) {
    let squares = 0;
    for (let j = i - period + 1; j <= i; j++) squares += (values[j] - middle[i]) ** 2;
    const deviation = Math.sqrt(squares / period);
    upper[i] = middle[i] + deviations * deviation;
    lower[i] = middle[i] - deviations * deviation;
  }
  return { middle, upper, lower };
}

export function donchian(high: ArrayLike<number>, low: ArrayLike<number>, period: number): { middle: Series; upper: Series; lower: Series } {
  const upper = new Float64Array(high.length).fill(NaN);
  const lower = new Float64Array(high.length).fill(NaN);
  const middle = new Float64Array(high.length).fill(NaN);
  for (let i = period - 1; i < high.length; i++) {
    let hi = -Infinity;
    let lo = Infinity;
    for (let j = i - period + 1; j <= i; j++) {
      hi = Math.max(hi, high[j]);
      lo = Math.min(lo, low[j]);
    }
    upper[i] = hi;
    lower[i] = lo;
    middle[i] = (hi + lo) / 2;
  }
  return { middle, upper, lower };
}

export interface Bars {
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
}

function source(bars: Bars, name: string | number | undefined): number[] {
  switch (name) {
    case "open":
    case "high":
    case "low":
    case "volume":
      return bars[name];
    case "hl2":
      return bars.high.map((h, i) => (h + bars.low[i]) / 2);
    case "hlc3":
      return bars.high.map((h, i) => (h + bars.low[i] + bars.close[i]) / 3);
    case "ohlc4":
      return bars.high.map((h, i) => (bars.open[i] + h + bars.low[i] + bars.close[i]) / 4);
    default:
      return bars.close;
  }
}

/** The overlay lines of one indicator use (name -> values), or null when it is not a price overlay. */
export function overlay(indicator: string, params: Record<string, number | string>, bars: Bars): Record<string, Series> | null {
  const period = Number(params.period);
  const values = source(bars, params.source);
  switch (indicator) {
    case "sma":
      return { [`SMA ${period || 30}`]: sma(values, period || 30) };
    case "ema":
      return { [`EMA ${period || 30}`]: ema(values, period || 30) };
    case "wma":
      return { [`WMA ${period || 30}`]: wma(values, period || 30) };
    case "bbands": {
      const bands = bbands(values, period || 20, Number(params.std_dev ?? 2));
      return { [`BB ${period || 20} upper`]: bands.upper, [`BB ${period || 20} middle`]: bands.middle, [`BB ${period || 20} lower`]: bands.lower };
    }
    case "donchian": {
      const channel = donchian(bars.high, bars.low, period || 20);
      return { [`Donchian ${period || 20} upper`]: channel.upper, [`Donchian ${period || 20} lower`]: channel.lower };
    }
    default:
      return null;
  }
}
