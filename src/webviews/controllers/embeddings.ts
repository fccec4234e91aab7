import { DEFAULT_IMAGE_SIZE } from '../../core/config';
import { classNamesFor } from '../../core/datasets';
import { loadDataset, type Split } from '../../data/datasets';
import { liveStatus } from '../../store/liveness';
import type { EmbeddingRow } from '../../store/types';
import { CancelledError, type AnalysisClient } from '../analysis/client';
import { runSummary } from '../data';
import { LIVE_STATUSES, type Thumb } from '../protocol/common';
import { isEmbeddingsToHost, type EmbeddingsToHost, type EmbeddingsToWebview } from '../protocol/embeddings';
import { paramsKey, totalIterations, type ProjectionParams } from '../protocol/projection';
import { errorText, type Controller, type PanelDeps } from './types';

/** The test split of a run's dataset (embeddings are of test images) at the run's imageSize, loaded on first use. */
export type SplitLoader = (dataset: string, imageSize: number) => Split;
export const testSplit: SplitLoader = (dataset, imageSize) => loadDataset(dataset, { imageSize }).test;

/** One sample's picture from a split, as a thumbnail. */
export function thumbOf(split: Split, sample: number, key: number): Thumb {
  const per = split.height * split.width * split.channels;
  return { key, label: split.labels[sample], width: split.width, height: split.height, channels: split.channels, pixels: split.images.slice(sample * per, (sample + 1) * per) };
}

/**
 * The embedding explorer's host side: loads a saved embedding, answers with the cached map or computes
 * it in the analysis worker (streaming the layout as it converges, then caching it in the store), and
 * serves thumbnails and cosine neighbours by row.
 */
export class EmbeddingsController implements Controller {
  private embedding?: EmbeddingRow;
  private dataset = '';
  private imageSize = DEFAULT_IMAGE_SIZE;
  private job?: { requestId: number; cancel(): void };
  private disposed = false;
  private timer?: NodeJS.Timeout;
  private listed = '';

  constructor(
    readonly runId: number,
    private readonly deps: PanelDeps,
    private readonly analysis: AnalysisClient,
    private readonly split: SplitLoader = testSplit,
    private readonly pollMs = 5000,
  ) {}

  private post(m: EmbeddingsToWebview): void {
    if (!this.disposed) this.deps.post(m);
  }

  handle(message: unknown): void {
    if (!isEmbeddingsToHost(message)) {
      this.deps.log?.(`embeddings: ignored an invalid message from the webview: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    void this.dispatch(message).catch((e: unknown) => this.post({ type: 'error', message: errorText(e), requestId: message.type === 'project' ? message.requestId : undefined }));
  }

  private async dispatch(m: EmbeddingsToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.listed = '';
        return this.init();
      case 'project':
        return this.project(m.embeddingId, m.requestId, m.params);
      case 'cancel':
        if (this.job?.requestId === m.requestId) this.job.cancel();
        return;
      case 'thumbs': {
        const e = await this.load(m.embeddingId);
        const split = this.split(this.dataset, this.imageSize);
        const thumbs = m.rows.filter((r) => r < e.count).map((r) => thumbOf(split, e.indices[r], r));
        this.post({ type: 'thumbs', embeddingId: e.id, thumbs });
        return;
      }
      case 'neighbours': {
        const e = await this.load(m.embeddingId);
        if (m.row >= e.count) throw new Error(`row ${m.row} is not in embedding ${e.id} (${e.count} rows)`);
        const r = await this.analysis.neighbours(`${this.deps.dbPath()}#${e.id}`, async () => ({ vectors: e.vectors, n: e.count, d: e.dim }), m.row, m.k);
        this.post({ type: 'neighbours', embeddingId: e.id, row: m.row, neighbours: r.ids.map((row, i) => ({ row, similarity: r.similarities[i] })) });
        return;
      }
    }
  }

  private async init(): Promise<void> {
    const store = await this.deps.store();
    const run = await store.getRun(this.runId);
    if (!run) throw new Error(`Run ${this.runId} is not in ${store.path}.`);
    this.dataset = run.dataset;
    this.imageSize = run.config.imageSize ?? DEFAULT_IMAGE_SIZE;
    this.deps.title?.(`Embeddings: ${run.name}`);
    const list = (await store.listEmbeddings(this.runId)).filter((e) => e.split === 'test');
    const embeddings = list.map((e) => ({ id: e.id, epoch: e.epoch, count: e.count, dim: e.dim }));
    // While the run trains, the epochs it saves appear in the chooser (sent again only when the list changed).
    const key = JSON.stringify(embeddings);
    if (key !== this.listed) {
      this.listed = key;
      this.post({ type: 'init', run: runSummary(run), classNames: classNamesFor(run.dataset), embeddings });
    }
    clearTimeout(this.timer);
    if (LIVE_STATUSES.includes(liveStatus(run)) && !this.disposed)
      this.timer = setTimeout(() => void this.init().catch((e: unknown) => this.post({ type: 'error', message: errorText(e) })), this.pollMs);
  }

  /** The embedding's vectors, kept while it is the one shown. */
  private async load(embeddingId: number): Promise<EmbeddingRow> {
    if (this.embedding?.id === embeddingId) return this.embedding;
    const store = await this.deps.store();
    if (!this.dataset) {
      const run = await store.getRun(this.runId);
      this.dataset = run?.dataset ?? 'builtin';
      this.imageSize = run?.config.imageSize ?? DEFAULT_IMAGE_SIZE;
    }
    const e = await store.getEmbedding(embeddingId);
    if (!e || !(await store.listEmbeddings(this.runId)).some((x) => x.id === embeddingId)) throw new Error(`embedding ${embeddingId} does not belong to run ${this.runId}`);
    this.embedding = e;
    this.post({ type: 'embedding', embeddingId, labels: e.labels, indices: e.indices });
    return e;
  }

  private async project(embeddingId: number, requestId: number, params: ProjectionParams): Promise<void> {
    this.job?.cancel();
    this.job = undefined;
    const e = await this.load(embeddingId);
    const store = await this.deps.store();
    const key = paramsKey(params);
    const cached = await store.getProjection(embeddingId, params.method, key);
    const base = { type: 'projection' as const, embeddingId, requestId, params };
    if (cached && cached.coords.length === 2 * e.count) {
      this.post({ ...base, coords: cached.coords, iteration: cached.iterations, totalIterations: totalIterations(params), done: true, cached: true, kl: cached.kl, seconds: cached.seconds });
      return;
    }
    const t0 = Date.now();
    const job = this.analysis.project(e.vectors, e.count, e.dim, params, (p) =>
      this.post({ ...base, coords: p.coords, iteration: p.iteration, totalIterations: p.total, done: false, cached: false, kl: p.kl, seconds: (Date.now() - t0) / 1000 }),
    );
    this.job = { requestId, cancel: job.cancel };
    try {
      const r = await job.result;
      this.post({ ...base, coords: r.coords, iteration: r.iteration, totalIterations: r.total, done: true, cached: false, kl: r.kl, seconds: r.seconds });
      await store.saveProjection(embeddingId, { method: params.method, params: key, coords: r.coords, iterations: r.iteration, kl: r.kl, seconds: r.seconds });
    } catch (err) {
      if (!(err instanceof CancelledError)) throw err;
    } finally {
      if (this.job?.requestId === requestId) this.job = undefined;
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.job?.cancel();
  }
}
