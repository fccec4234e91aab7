/**
 * TensorBoard's scalar smoothing: an exponential moving average with bias correction (the first points
 * are not pulled toward 0), skipping non-finite values, leaving constant series as they are.
 * Incremental, so a live curve extends its smoothed copy point by point instead of recomputing it.
 */
export class Ema {
  private last = 0;
  private count = 0;
  constructor(readonly weight: number) {}

  push(v: number | null): number | null {
    if (v === null || !Number.isFinite(v)) return v;
    const w = this.weight;
    this.last = this.last * w + (1 - w) * v;
    this.count++;
    return w === 1 ? this.last : this.last / (1 - Math.pow(w, this.count));
  }
}

export function emaSmooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (finite.length && finite.every((v) => v === finite[0])) return [...values];
  const e = new Ema(weight);
  return values.map((v) => e.push(v));
}
