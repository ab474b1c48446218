/** Axis helpers for the SVG charts: nice ticks, log ticks, downsampling, smoothing. */

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
}

/** About `count` round tick values (1, 2, 5 × 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const ratio = raw / power;
  const step = (ratio < 1.5 ? 1 : ratio < 3 ? 2 : ratio < 7 ? 5 : 10) * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis on (0, ∞): powers of ten, plus 2 and 5 multiples when the range spans few decades. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0 && max >= min && Number.isFinite(max))) return [];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const multiples = Math.log10(max / min) <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of multiples) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  // A narrow range inside one decade may hold no such tick: fall back to linear ticks.
  return ticks.length >= 2 ? ticks : niceTicks(min, max, 4).filter((v) => v > 0);
}

/**
 * At most `maxPoints` points, keeping the shape: the points are cut into buckets along the series and each
 * bucket keeps its minimum and maximum (in x order), so spikes survive. First and last points are always kept.
 */
export function downsample(points: readonly ChartPoint[], maxPoints: number): ChartPoint[] {
  if (points.length <= maxPoints || maxPoints < 4) return [...points];
  const buckets = Math.floor((maxPoints - 2) / 2);
  const inner = points.length - 2;
  const out: ChartPoint[] = [points[0] as ChartPoint];
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * inner) / buckets);
    const to = 1 + Math.floor(((b + 1) * inner) / buckets);
    let lo = from;
    let hi = from;
    for (let k = from; k < to; k++) {
      if ((points[k] as ChartPoint).y < (points[lo] as ChartPoint).y) lo = k;
      if ((points[k] as ChartPoint).y > (points[hi] as ChartPoint).y) hi = k;
    }
    if (to > from) {
      out.push(points[Math.min(lo, hi)] as ChartPoint);
      if (lo !== hi) out.push(points[Math.max(lo, hi)] as ChartPoint);
    }
  }
  out.push(points[points.length - 1] as ChartPoint);
  return out;
}

/**
 * Exponential moving average with TensorBoard's debiasing (early points are not pulled towards 0).
 * weight 0 returns the input; 0.9 is a common choice for noisy training loss.
 */
export function smoothEma(points: readonly ChartPoint[], weight: number): ChartPoint[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  let last = 0;
  let debias = 1;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return p;
    last = last * weight + (1 - weight) * p.y;
    debias *= weight;
    return { x: p.x, y: last / (1 - debias) };
  });
}
