import type { MethodDefinition } from './types';
import { simclr } from './simclr';

/** Every trainable method: adding one is its file plus one line here (and its entry in core/methods.ts). */
export const METHODS: Record<string, MethodDefinition> = {
  simclr,
};

export function methodDefinition(id: string): MethodDefinition {
  const m = METHODS[id];
  if (!m) throw new Error(`unknown method '${id}' (known: ${Object.keys(METHODS).join(', ')})`);
  return m;
}
