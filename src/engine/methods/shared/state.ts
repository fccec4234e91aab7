import type { MethodState } from '../types';

/** Reads one entry of a saved method state, with a clear message when the state is not this method's. */
export function stateNumber(state: MethodState, key: string): number {
  const v = state[key];
  if (typeof v !== 'number') throw new Error(`the saved method state has no number '${key}'`);
  return v;
}

export function stateNumbers(state: MethodState, key: string): number[] {
  const v = state[key];
  if (!Array.isArray(v)) throw new Error(`the saved method state has no list '${key}'`);
  return v;
}
