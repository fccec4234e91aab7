import { classNamesFor } from '../../core/datasets';
import { liveStatus } from '../../store/liveness';
import type { EmbeddingRow, RunRow } from '../../store/types';
import { CancelledError, type AnalysisClient } from '../analysis/client';
import { configDiff, evalPoints, finalTable, metricColumns, MetricCursor, runSummary } from '../data';
import { LIVE_STATUSES } from '../protocol/common';
import { isCompareToHost, type CompareToWebview } from '../protocol/compare';
import { DEFAULT_PARAMS, paramsKey, totalIterations, type ProjectionParams } from '../protocol/projection';
import { errorText, type Controller, type PanelDeps } from './types';

/** Neighbours compared by the kNN agreement. */
export const AGREEMENT_K = 10;

/**
 * Compare runs, host side: every run's curves (kept live like the dashboard's), the table of final
 * numbers and differing config keys, each run's latest test embedding as a map (cached maps at once,
 * others computed in the analysis worker), and the kNN agreement of every pair of embeddings.
 */
export class CompareController implements Controller {
  private cursors = new Map<number, MetricCursor>();
  private jobs: { cancel(): void }[] = [];
  private timer?: NodeJS.Timeout;
  private disposed = false;
  private generation = 0;
  /** Agreement per pair of embeddings (`idA:idB`): it does not depend on the map's method, so it is computed once. */
  private agreements = new Map<string, Promise<CompareToWebview>>();

  constructor(
    readonly runIds: number[],
    private readonly deps: PanelDeps,
    private readonly analysis: AnalysisClient,
    private params: ProjectionParams = DEFAULT_PARAMS.pca,
    private readonly pollMs = 2000,
  ) {}

  private post(m: CompareToWebview): void {
    if (!this.disposed) this.deps.post(m);
  }

  handle(message: unknown): void {
    if (!isCompareToHost(message)) {
      this.deps.log?.(`compare: ignored an invalid message from the webview: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    const run = message.type === 'ready' ? this.init() : this.maps(message.params);
    void run.catch((e: unknown) => this.post({ type: 'error', message: errorText(e) }));
  }

  private async runs(): Promise<RunRow[]> {
    const store = await this.deps.store();
    const rows = await Promise.all(this.runIds.map((id) => store.getRun(id)));
    const missing = this.runIds.filter((_, i) => !rows[i]);
    if (missing.length) this.post({ type: 'error', message: `Run(s) ${missing.join(', ')} are not in ${store.path}.` });
    return rows.filter((r): r is RunRow => !!r);
  }

  private async init(): Promise<void> {
    const store = await this.deps.store();
    const runs = await this.runs();
    const metrics = await Promise.all(runs.map((r) => store.getMetrics(r.id)));
    const evals = await Promise.all(runs.map((r) => store.getEvals(r.id)));
    this.post({
      type: 'init',
      runs: runs.map((r) => runSummary(r)),
      classNames: classNamesFor(runs[0]?.dataset ?? ''),
      table: finalTable(runs, metrics, evals),
      configDiff: configDiff(runs.map((r) => r.config as unknown as Record<string, unknown>)),
    });
    this.cursors = new Map();
    runs.forEach((r, i) => {
      const c = new MetricCursor();
      this.cursors.set(r.id, c);
      this.post({ type: 'metrics', runId: r.id, reset: true, series: metricColumns(c.take(metrics[i])) });
      this.post({ type: 'evals', runId: r.id, reset: true, evals: evalPoints(c.takeEvals(evals[i])) });
    });
    this.schedule(runs.some((r) => LIVE_STATUSES.includes(liveStatus(r))));
    await this.maps(this.params);
  }

  /** New points of live runs; stops polling once none is live. */
  private async poll(): Promise<void> {
    const store = await this.deps.store();
    const runs = await this.runs();
    for (const r of runs) {
      const c = this.cursors.get(r.id);
      if (!c) continue;
      const points = c.take(await store.getMetrics(r.id, { afterStep: c.afterStep }));
      if (points.length) this.post({ type: 'metrics', runId: r.id, reset: false, series: metricColumns(points) });
      const evals = c.takeEvals(await store.getEvals(r.id));
      if (evals.length) this.post({ type: 'evals', runId: r.id, reset: false, evals: evalPoints(evals) });
    }
    this.schedule(runs.some((r) => LIVE_STATUSES.includes(liveStatus(r))));
  }

  private schedule(live: boolean): void {
    clearTimeout(this.timer);
    if (live && !this.disposed) this.timer = setTimeout(() => void this.poll().catch((e: unknown) => this.post({ type: 'error', message: errorText(e) })), this.pollMs);
  }

  /** Each run's latest test embedding as a map with `params`, then the agreement of each pair, in run order. */
  private async maps(params: ProjectionParams): Promise<void> {
    this.params = params;
    const gen = ++this.generation;
    for (const j of this.jobs) j.cancel();
    this.jobs = [];
    const store = await this.deps.store();
    const embeddings: { runId: number; e: EmbeddingRow }[] = [];
    const pending: Promise<void>[] = [];
    for (const runId of this.runIds) {
      const list = (await store.listEmbeddings(runId)).filter((e) => e.split === 'test');
      const latest = list[list.length - 1];
      if (!latest) {
        this.post({ type: 'noMap', runId, reason: 'This run saved no test-set embeddings (they are saved at the end of training, or every eval.embeddingsEvery epochs).' });
        continue;
      }
      const e = (await store.getEmbedding(latest.id))!;
      embeddings.push({ runId, e });
      const base = { type: 'map' as const, runId, embeddingId: e.id, epoch: e.epoch, params, labels: e.labels, indices: e.indices };
      const key = paramsKey(params);
      const cached = await store.getProjection(e.id, params.method, key);
      if (cached && cached.coords.length === 2 * e.count) {
        this.post({ ...base, coords: cached.coords, iteration: cached.iterations, totalIterations: totalIterations(params), done: true });
        continue;
      }
      const job = this.analysis.project(e.vectors, e.count, e.dim, params, (p) => {
        if (gen === this.generation) this.post({ ...base, coords: p.coords, iteration: p.iteration, totalIterations: p.total, done: false });
      });
      this.jobs.push(job);
      pending.push(
        job.result.then(
          async (r) => {
            if (gen !== this.generation) return;
            this.post({ ...base, coords: r.coords, iteration: r.iteration, totalIterations: r.total, done: true });
            await store.saveProjection(e.id, { method: params.method, params: key, coords: r.coords, iterations: r.iteration, kl: r.kl, seconds: r.seconds });
          },
          (err: unknown) => {
            if (!(err instanceof CancelledError)) throw err;
          },
        ),
      );
    }
    // One pair at a time, each posted as it is known: the pairs share the one analysis thread, and a
    // panel of 8 runs has 28 of them (~1 s each for 10,000 images).
    for (let i = 0; i < embeddings.length; i++) {
      for (let j = i + 1; j < embeddings.length; j++) {
        if (gen !== this.generation) break;
        const [{ e: a, runId: ra }, { e: b, runId: rb }] = [embeddings[i], embeddings[j]];
        const pair = `${a.id}:${b.id}`;
        let message = this.agreements.get(pair);
        if (!message) {
          message = this.analysis
            .agreement({ vectors: a.vectors, d: a.dim, indices: a.indices }, { vectors: b.vectors, d: b.dim, indices: b.indices }, AGREEMENT_K)
            .then((r) => ({ type: 'agreement', runIds: [ra, rb], k: AGREEMENT_K, value: r.value, queries: r.queries, common: r.common }));
          this.agreements.set(pair, message);
          message.catch(() => this.agreements.delete(pair));
        }
        this.post(await message);
      }
    }
    await Promise.all(pending);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    for (const j of this.jobs) j.cancel();
  }
}
