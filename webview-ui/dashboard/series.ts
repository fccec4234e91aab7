import type { MetricColumns } from '../../src/webviews/protocol/common';
import type { XAxis } from '../../src/webviews/protocol/dashboard';
import { Ema } from '../shared/smoothing';

/**
 * A metric's points as the charts need them, grown by appending: x for the chosen axis, raw values and
 * their EMA. Only a change of axis or smoothing recomputes the whole arrays.
 */
export class CurveData {
  readonly step: number[] = [];
  readonly epoch: number[] = [];
  readonly wall: number[] = [];
  readonly raw: (number | null)[] = [];
  x: number[] = [];
  smoothed: (number | null)[] = [];
  private ema: Ema;

  constructor(
    private axis: XAxis,
    weight: number,
    private geometry: AxisGeometry,
  ) {
    this.ema = new Ema(weight);
  }

  append(c: MetricColumns): void {
    for (let i = 0; i < c.step.length; i++) {
      this.step.push(c.step[i]);
      this.epoch.push(c.epoch[i]);
      this.wall.push(c.wallTime[i]);
      this.raw.push(c.value[i]);
      this.x.push(this.geometry.x(this.axis, c.step[i], c.wallTime[i]));
      this.smoothed.push(this.ema.push(c.value[i]));
    }
  }

  setAxis(axis: XAxis): void {
    this.axis = axis;
    this.x = this.step.map((s, i) => this.geometry.x(axis, s, this.wall[i]));
  }

  setSmoothing(weight: number): void {
    this.ema = new Ema(weight);
    this.smoothed = this.raw.map((v) => this.ema.push(v));
  }

  get length(): number {
    return this.step.length;
  }
}

/**
 * Maps a step to the x of each axis: the step itself; the epoch as a fraction (step s of a run with
 * E steps per epoch ends at (s + 1) / E, so epoch k's last step sits at x = k); seconds since the run's
 * first recorded point.
 */
export class AxisGeometry {
  stepsPerEpoch = 0;
  t0 = 0;

  x(axis: XAxis, step: number, wallTime: number): number {
    if (axis === 'step') return step;
    if (axis === 'wall') return (wallTime - this.t0) / 1000;
    return this.stepsPerEpoch > 0 ? (step + 1) / this.stepsPerEpoch : step + 1;
  }
}
