import type { MethodDefinition } from './types';
import { byol } from './byol';
import { cmc } from './cmc';
import { cpc } from './cpc';
import { cpcv2 } from './cpcv2';
import { dim } from './dim';
import { instdisc } from './instdisc';
import { mocov1, mocov2 } from './moco';
import { pixpro } from './pixpro';
import { simclr } from './simclr';
import { simsiam } from './simsiam';

/** Every trainable method: adding one is its file plus one line here (and its entry in core/methods.ts). */
export const METHODS: Record<string, MethodDefinition> = {
  simclr,
  mocov1,
  mocov2,
  byol,
  simsiam,
  instdisc,
  cpc,
  cpcv2,
  dim,
  cmc,
  pixpro,
};

export function methodDefinition(id: string): MethodDefinition {
  const m = METHODS[id];
  if (!m) throw new Error(`unknown method '${id}' (known: ${Object.keys(METHODS).join(', ')})`);
  return m;
}
