import type { FieldSpec } from '../spec';

/**
 * `params.bankInit` of the memory-bank methods (InstDisc, CMC). Both official codes start the bank from
 * the same random rows (NCEAverage: U(−s, s), s = 1/√(d/3)), so during the first epoch every image's
 * positive is a random vector; "features" (not in either paper) fills the bank before step 1 with what the
 * untrained network gives each unaugmented training image. legacyValue "random": runs recorded before the
 * field existed keep their config hash.
 */
export function bankInitField(officialCode: string, features: string): FieldSpec {
  return {
    kind: 'enum',
    description: 'The memory bank before the first step: random unit-scale rows (the official code), or every training image’s feature under the untrained network (not in the paper: an experiment on the first epoch, where random rows are every image’s positive).',
    values: ['random', 'features'],
    valueDescriptions: [`U(−s, s) with s = 1/√(d/3), as ${officialCode}`, features],
    default: 'random',
    legacyValue: 'random',
  };
}
