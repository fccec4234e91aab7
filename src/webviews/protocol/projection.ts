import { isInt, isNum, isObj } from './common';

/**
 * The 2-D maps of an embedding the explorer and the compare panel draw, with the parameters that change
 * the result (they also key the store's cache). Ranges are checked on both sides.
 */
export type ProjectionParams =
  | { method: 'tsne'; perplexity: number; iterations: number }
  | { method: 'umap'; neighbours: number; minDist: number; epochs: number }
  | { method: 'pca' };

export type ProjectionMethod = ProjectionParams['method'];
export const PROJECTION_METHODS: readonly ProjectionMethod[] = ['tsne', 'umap', 'pca'];
export const METHOD_LABEL: Record<ProjectionMethod, string> = { tsne: 't-SNE', umap: 'UMAP', pca: 'PCA' };

export const LIMITS = {
  perplexity: { min: 2, max: 100, step: 1, default: 30 },
  iterations: { min: 250, max: 5000, step: 50, default: 1000 },
  neighbours: { min: 2, max: 200, step: 1, default: 15 },
  minDist: { min: 0, max: 1, step: 0.01, default: 0.1 },
  epochs: { min: 50, max: 2000, step: 50, default: 400 },
} as const;

export const DEFAULT_PARAMS: Record<ProjectionMethod, ProjectionParams> = {
  tsne: { method: 'tsne', perplexity: LIMITS.perplexity.default, iterations: LIMITS.iterations.default },
  umap: { method: 'umap', neighbours: LIMITS.neighbours.default, minDist: LIMITS.minDist.default, epochs: LIMITS.epochs.default },
  pca: { method: 'pca' },
};

const inRange = (v: unknown, l: { min: number; max: number }, int = false): boolean => (int ? isInt(v) : isNum(v)) && (v as number) >= l.min && (v as number) <= l.max;

export function isProjectionParams(v: unknown): v is ProjectionParams {
  if (!isObj(v)) return false;
  switch (v.method) {
    case 'tsne':
      return inRange(v.perplexity, LIMITS.perplexity) && inRange(v.iterations, LIMITS.iterations, true) && Object.keys(v).length === 3;
    case 'umap':
      return inRange(v.neighbours, LIMITS.neighbours, true) && inRange(v.minDist, LIMITS.minDist) && inRange(v.epochs, LIMITS.epochs, true) && Object.keys(v).length === 4;
    case 'pca':
      return Object.keys(v).length === 1;
    default:
      return false;
  }
}

/** The cache key: the parameters other than the method, as JSON with sorted keys. */
export function paramsKey(p: ProjectionParams): string {
  const { method: _m, ...rest } = p as Record<string, unknown> & { method: string };
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))));
}

/** How many iterations a computation takes (for the progress bar): PCA is one step. */
export function totalIterations(p: ProjectionParams): number {
  return p.method === 'tsne' ? p.iterations : p.method === 'umap' ? p.epochs : 1;
}
