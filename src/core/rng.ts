/**
 * A small seeded PRNG for everything in the engine that must replay exactly from a run's seed
 * (shuffling, augmentation, sampling). Math.random cannot be seeded, and tfjs's own RNG differs
 * between backends, so runs would not be reproducible with either.
 *
 * Generator: mulberry32 (Tommy Ettinger, public domain) — 32-bit state, period 2^32, passes
 * PractRand to 2^32 bytes, which is plenty for per-run streams. It uses only 32-bit integer ops
 * (Math.imul, shifts), so the sequence is bit-identical on every platform and JS engine.
 *
 * Seeds are scrambled with a splitmix32-style finaliser first, so nearby seeds (0, 1, 2, …) give
 * unrelated streams rather than shifted copies of one another.
 */
export class Rng {
  private state: number;
  /** Scrambled seed, kept so fork() depends only on the seed, not on how many draws were made. */
  private origin: number;

  constructor(seed: number) {
    // Fold in the bits above 2^32 so large or negative seeds don't collide after `>>> 0`.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    this.origin = mix32(lo ^ mix32(hi + 0x9e3779b9));
    this.state = this.origin;
  }

  /** Uniform float in [0, 1), 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform float in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /**
   * Uniform integer in [0, n). Bias is below n / 2^32, negligible for the array sizes we shuffle,
   * and avoiding rejection sampling keeps the number of draws per call fixed (easier to replay).
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal sample (Box–Muller; one pair of uniforms per call, no cached spare, so state stays simple). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: avoids log(0)
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * The generator's position, to continue a stream where it stopped (a resumed run). Restore it with
   * setState into a generator made the same way (same seed and forks): forks depend on the seed, not on it.
   */
  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    if (!Number.isInteger(state)) throw new Error(`Rng.setState: expected an integer state, got ${state}`);
    this.state = state | 0;
  }

  /**
   * An independent generator for a numbered sub-stream (e.g. one per epoch or per view). It depends
   * only on this generator's seed and `stream`, not on draws made so far, so adding a draw in one
   * place doesn't change the numbers used somewhere else.
   */
  fork(stream: number): Rng {
    const child = new Rng(0);
    const s = mix32(this.origin ^ mix32((stream >>> 0) + 0x632be5ab) ^ mix32(Math.floor(stream / 4294967296) >>> 0));
    child.state = s;
    child.origin = s;
    return child;
  }
}

/** splitmix32 / murmur3 finaliser: a bijective 32-bit hash with good avalanche. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
