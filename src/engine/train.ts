import * as tf from '@tensorflow/tfjs-core';
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { configHash, type RunConfig } from '../core/config';
import type { EvalRecord, WorkerEvent } from '../core/events';
import type { RunStore } from '../store/store';
import { checkResumable, resumeFolder, ResumeRefused, type ResumePoint } from '../store/resume';
import { runFolder } from '../store/store';
import type { ArtifactRow } from '../store/types';
import { initBackend, type BackendInfo } from './backend';
import { channelStats, mapSplit } from './batches';
import { saveCheckpoint } from './checkpoint';
import { loadDataset, shuffledIndices, type Dataset } from '../data/datasets';
import { Rng } from '../core/rng';
import { collapseStd } from './eval/collapse';
import { baselineCacheFile, cachedKnnBaselines, type KnnBaselines } from './eval/baselines';
import { knnAccuracy } from './eval/knn';
import { linearProbeAccuracy } from './eval/linear';
import { methodDefinition } from './methods';
import type { Method, TrainBatch } from './methods/types';
import { learningRate, methodOptimizer, type Optimizer } from './optim';
import { startDataParallel, type DataParallel } from './parallel/data-parallel';
import { loadResumeState, saveResumeState } from './resume';
import { PatientWriter } from './patient-writer';
import { makeViews, trainStep } from './step';
import { yieldToEventLoop } from './util';
import { versions } from './versions';

export interface TrainOptions {
  store: RunStore;
  dbPath: string;
  runId: number;
  emit: (e: WorkerEvent) => void;
  /** Set `requested` to end the run after the current step, as `cancelled`. */
  cancel: { requested: boolean };
  extraModuleDirs?: string[];
  /** config.dataset already loaded (the CLI loads it before recording the run; tests); otherwise loaded here. */
  dataset?: Dataset;
  /**
   * Continue the run from where it stopped (the state saved at every epoch's end, and at a requested stop) instead of from
   * the start; `config` must be the run's recorded config. See checkResumable for what is refused.
   */
  resume?: boolean;
  /** The queue runner that claimed this run (it is recorded as running by that claim, not by another worker). */
  claimedBy?: string;
}

/** The options, and the writer every record of the run goes through. */
type Ctx = TrainOptions & { writer: PatientWriter };

/** How often a running worker refreshes its heartbeat; the store calls a run crashed after 60 s without one. */
const HEARTBEAT_MS = 10_000;

export type RunOutcome = { status: 'completed' | 'cancelled'; knn?: number; linear?: number; baselines?: KnnBaselines } | { status: 'failed'; error: string };

const isNotInstalled = (error: string) => error.startsWith('Cannot find module');

/** The backend probing in one line: what started, and what was passed over and why. */
export function probeLine(b: Pick<BackendInfo, 'backend' | 'device' | 'tried'>): string {
  const skipped = b.tried.filter((t) => t.error).map((t) => `${t.name} (${isNotInstalled(t.error!) ? 'not installed' : t.error})`);
  return `backend ${b.backend}: ${b.device}${skipped.length ? `; not used: ${skipped.join(', ')}` : ''}`;
}

/**
 * Trains one run end to end and records everything in the store as it goes: step losses, per-epoch
 * kNN and collapse metrics, embeddings, checkpoints, the state to resume from, the final linear probe.
 * A failure is recorded on the run as `failed` with its message, and what was recorded before stays.
 * Throws only ResumeRefused, for a resume that cannot be done, before anything is written.
 */
export async function runTraining(config: RunConfig, o: TrainOptions): Promise<RunOutcome> {
  const { store, runId, emit } = o;
  const hash = configHash(config);
  let resumeFrom: string | undefined;
  if (o.resume) {
    const { run, dir } = await checkResumable(store, o.dbPath, runId, undefined, { claimedBy: o.claimedBy });
    if (run.configHash !== hash) throw new ResumeRefused(`run ${runId} is resumed with its recorded config only (hash ${run.configHash}; the one given is ${hash})`);
    resumeFrom = dir;
  }
  const log = (message: string, level: 'debug' | 'info' | 'warn' | 'error' = 'info') => emit({ type: 'log', runId, level, message });
  const writer = new PatientWriter(store, runId, log);
  const c: Ctx = { ...o, writer };
  let method: Method | undefined;
  let optimizer: Optimizer | undefined;
  let parallel: DataParallel | undefined;
  // Steps refresh the heartbeat, but evaluation on a large split takes longer than a step: beat on a
  // timer too, so a healthy run is never shown as crashed. (It fires between batches, when we yield.)
  const beat = setInterval(() => void store.heartbeat(runId).catch(() => undefined), HEARTBEAT_MS);
  try {
    const backend = await initBackend(config.backend, { extraModuleDirs: o.extraModuleDirs });
    log(probeLine(backend), 'debug');
    // With `auto`, a native backend that is not installed is normal; one that is installed but fails to
    // load is worth a warning. A forced one that fails throws in initBackend.
    for (const t of backend.tried) if (t.error && !isNotInstalled(t.error)) log(`backend ${t.name} not used: ${t.error}`, 'warn');
    await writer.write(() => store.markRunning(runId, { backend: backend.backend, device: backend.device, versions: { ...versions(), tfjs: backend.tfjsVersion }, pid: process.pid, host: hostname() }));
    const data = o.dataset ?? loadDataset(config.dataset, { imageSize: config.imageSize });
    const { train, test } = data;
    const all = shuffledIndices(train.count, config.seed);
    const trainIdx = config.trainLimit > 0 ? all.subarray(0, Math.min(config.trainLimit, train.count)) : all;
    const n = trainIdx.length;
    if (n < 2) throw new Error(`dataset ${config.dataset} has ${n} training image(s); at least 2 are needed`);
    const batchSize = Math.min(config.batchSize, n);
    if (batchSize < config.batchSize) log(`batch size ${config.batchSize} is larger than the training set (${n}); using ${batchSize}`, 'warn');
    const stepsPerEpoch = Math.floor(n / batchSize); // drop the last partial batch: BN needs full batches
    const totalSteps = stepsPerEpoch * config.epochs;
    const stats = channelStats(train);
    const rng = new Rng(config.seed);
    const inputShape: [number, number, number] = [train.height, train.width, train.channels];
    method = methodDefinition(config.method).create({ config, inputShape, trainSize: train.count, totalSteps, rng: rng.fork(1), inputStats: stats });
    const vars = method.trainableVariables();
    optimizer = methodOptimizer(config.optimizer, method);
    // Before the data-parallel threads start: their replicas copy rank 0's variables and optimizer.
    const resumed = resumeFrom ? await restore(c, resumeFrom, method, optimizer, stepsPerEpoch) : undefined;
    if (!resumed) await method.prepare?.({ trainIndices: trainIdx, mapTrain: (fn) => mapSplit(train, trainIdx, stats, fn) });
    parallel = await startDataParallel({ config, backend: backend.backend, method, optimizer, inputShape, trainSize: train.count, totalSteps, batchSize, log });
    emit({ type: 'started', runId, backend: backend.backend, device: backend.device, stepsPerEpoch, totalSteps, trainSize: n, testSize: test.count });
    log(`${config.method} (recipe ${config.recipe}) on ${data.name}: ${n} training images, ${stepsPerEpoch} steps/epoch, backend ${backend.backend} (${backend.device})`);
    if (resumed)
      log(
        resumed.partial
          ? `resumed in epoch ${resumed.epoch + 1} at step ${resumed.step} (${resumed.step - resumed.epoch * stepsPerEpoch} of its ${stepsPerEpoch} steps done); what the interrupted attempt recorded after it was removed`
          : `resumed from epoch ${resumed.epoch} (step ${resumed.step})${resumed.evaluationPending ? ', its evaluation to be done again' : ''}; what the interrupted attempt recorded after it was removed`,
      );
    // An unlabeled image folder has no class names: nothing for kNN or a linear probe to score against.
    const labeled = data.classNames.length > 0;
    if (!labeled) log('the dataset has no labels: no kNN monitor or linear probe (the collapse indicator is still recorded)', 'warn');

    const saveState = async (point: ResumePoint) => {
      try {
        await saveResumeState(o.dbPath, { runId, point, method: method!, optimizer: optimizer! });
      } catch (e) {
        log(`could not save the state to resume from at step ${point.step}: ${(e as Error).message}`, 'warn');
      }
    };
    const viewParams = [config.augment.view1, config.augment.view2];
    let step = resumed?.step ?? 0;
    let lastKnn = resumed?.lastKnn;
    /**
     * Evaluation, embeddings and checkpoint of a trained epoch, then the state to resume from. When any of
     * them is due, the state is saved before them too: a kNN pass over the full training split takes
     * minutes, and a worker killed during it (kill -9, a machine restart) then loses that, not the epoch.
     */
    const endOfEpoch = async (epoch: number) => {
      const last = epoch === config.epochs;
      const every = (k: number) => (k > 0 && epoch % k === 0) || last;
      const due = { knn: every(config.eval.knnEvery), embeddings: every(config.eval.embeddingsEvery), checkpoint: every(config.checkpointEvery) };
      if (due.knn || due.embeddings || due.checkpoint) await saveState({ epoch, step, configHash: hash, stepsPerEpoch, evaluationPending: true });
      if (due.knn) lastKnn = await evaluateEpoch(method!, data, trainIdx, stats, config, epoch, hash, c);
      if (due.embeddings) await saveEmbeddings(method!, data, stats, config, epoch, c);
      if (due.checkpoint) {
        const dir = join(runFolder(o.dbPath, runId), 'checkpoints', `epoch-${String(epoch).padStart(4, '0')}`);
        await saveCheckpoint(dir, method!.namedVariables(), { runId, epoch, step, configHash: hash, config });
        await writer.write(() => store.recordArtifact(runId, { kind: 'checkpoint', path: dir, epoch }));
        emit({ type: 'checkpoint', runId, epoch, path: dir });
      }
      await saveState({ epoch, step, configHash: hash, stepsPerEpoch });
    };
    // Killed during an epoch's evaluation: the epoch is trained, its evaluation is done again first.
    if (resumed?.evaluationPending) await endOfEpoch(resumed.epoch);
    let cancelled = false;
    // Stopped mid-epoch: the interrupted epoch goes on from its next step, its earlier steps counted.
    let partial = resumed?.partial;
    const startStep = step;
    for (let epoch = (resumed?.epoch ?? 0) + 1; epoch <= config.epochs && !cancelled; epoch++) {
      const t0 = Date.now() - (partial?.seconds ?? 0) * 1000;
      const order = shuffledIndices(n, (config.seed * 1000003 + epoch) % 2147483647);
      let lossSum = partial?.lossSum ?? 0;
      let stepsDone = step - (epoch - 1) * stepsPerEpoch;
      partial = undefined;
      for (let s = stepsDone; s < stepsPerEpoch; s++) {
        if (o.cancel.requested) {
          cancelled = true;
          break;
        }
        const tStep = Date.now();
        const indices = new Int32Array(batchSize);
        for (let b = 0; b < batchSize; b++) indices[b] = trainIdx[order[s * batchSize + b]];
        const { views, draws } = makeViews(train, indices, viewParams, stats, (v) => rng.fork(1_000_000 + step * 8 + v));
        const batch: TrainBatch = { views, draws, indices, step, epoch, progress: step / Math.max(1, totalSteps) };
        const lr = learningRate(config.optimizer, step, totalSteps, stepsPerEpoch);
        try {
          const loss = parallel ? await parallel.step(method, vars, optimizer, batch, lr) : await trainStep(method, vars, optimizer, batch, lr);
          if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at epoch ${epoch}, step ${step}: training diverged (try a lower optimizer.lr)`);
          lossSum += loss;
          stepsDone++;
          const now = Date.now();
          await writer.steps([
            { step, epoch, name: 'loss', value: loss, wallTime: now },
            { step, epoch, name: 'lr', value: lr, wallTime: now },
          ]);
          emit({ type: 'step', runId, step, epoch, loss, lr, viewsPerSecond: (views.length * batchSize * 1000) / Math.max(1, now - tStep) });
        } finally {
          tf.dispose(views);
        }
        step++;
        await yieldToEventLoop();
      }
      const seconds = (Date.now() - t0) / 1000;
      if (cancelled) {
        // A stop mid-epoch saves the state there (if this attempt got further than the state it started
        // from), so nothing done is lost. No summary for the incomplete epoch: its mean loss and time would
        // read as a whole epoch's; the resumed attempt records it when the epoch is complete.
        if (stepsDone > 0 && step > startStep) await saveState({ epoch: epoch - 1, step, configHash: hash, stepsPerEpoch, partial: { lossSum, seconds } });
        break;
      }
      const meanLoss = lossSum / stepsDone;
      const now = Date.now();
      await writer.steps([
        { step: step - 1, epoch, name: 'epoch_loss', value: meanLoss, wallTime: now },
        { step: step - 1, epoch, name: 'epoch_seconds', value: seconds, wallTime: now },
      ]);
      emit({ type: 'epoch', runId, epoch, meanLoss, seconds });
      await endOfEpoch(epoch);
    }
    if (cancelled) {
      await writer.write(() => store.finishRun(runId, 'cancelled'));
      log(`cancelled after ${step} steps; everything recorded so far is kept`);
      emit({ type: 'finished', runId, status: 'cancelled', knn: lastKnn });
      return { status: 'cancelled', knn: lastKnn };
    }
    let linear: number | undefined;
    if (config.eval.linearProbe && labeled) {
      log('linear probe on frozen encoder features…');
      const trainFeat = await mapSplit(train, trainIdx, stats, (x) => method!.encoder.features(x, false));
      const testFeat = await mapSplit(test, range(test.count), stats, (x) => method!.encoder.features(x, false));
      const a = tf.tensor2d(trainFeat.values, [n, trainFeat.dim]);
      const b = tf.tensor2d(testFeat.values, [test.count, testFeat.dim]);
      try {
        linear = await linearProbeAccuracy(a, gatherLabels(train.labels, trainIdx), b, test.labels, data.classNames.length, { seed: config.seed });
      } finally {
        tf.dispose([a, b]);
      }
      await record(c, {
        protocol: 'linear',
        value: linear,
        epoch: config.epochs,
        details: { classifier: 'multinomial logistic regression, Adam, 30 epochs, standardised features', features: 'encoder (pooled, before projector)', trainSplit: 'train', trainSize: n, testSplit: 'test', testSize: test.count, configHash: hash },
      });
    }
    // What the run's kNN should be read against, with its own protocol (computed once per database).
    let baselines: KnnBaselines | undefined;
    if (labeled && lastKnn !== undefined) {
      log('kNN baselines (raw pixels, untrained encoder; cached)…');
      baselines = await cachedKnnBaselines(config, hash, data, trainIdx, baselineCacheFile(o.dbPath));
      const details = { k: config.eval.knnK, temperature: config.eval.knnTemperature, similarity: 'cosine', bankSplit: 'train', bankSize: n, querySplit: 'test', querySize: test.count, configHash: hash };
      await record(c, { protocol: 'knn-raw-pixels', value: baselines.rawPixels, epoch: 0, details: { ...details, features: 'pixels in [0, 1]' } });
      await record(c, { protocol: 'knn-raw-pixels-centred', value: baselines.rawPixelsCentred, epoch: 0, details: { ...details, features: 'pixels in [0, 1] minus the bank’s mean image' } });
      await record(c, { protocol: 'knn-untrained', value: baselines.untrainedEncoder, epoch: 0, details: { ...details, features: 'encoder at initialisation (pooled, before projector)' } });
      const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
      log(`kNN ${pct(lastKnn)} against, with the same protocol: raw pixels ${pct(baselines.rawPixels)} (mean-centred ${pct(baselines.rawPixelsCentred)}), untrained encoder ${pct(baselines.untrainedEncoder)}`);
    }
    await writer.write(() => store.finishRun(runId, 'completed'));
    // The final checkpoint keeps the weights; the resume state (30 MB and more with a memory bank) goes.
    rmSync(resumeFolder(o.dbPath, runId), { recursive: true, force: true });
    emit({ type: 'finished', runId, status: 'completed', knn: lastKnn, linear });
    return { status: 'completed', knn: lastKnn, linear, baselines };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    try {
      await writer.write(() => store.finishRun(runId, 'failed', error));
    } catch (storeError) {
      log(`could not record the failure in the store: ${String(storeError)}`, 'error');
    }
    emit({ type: 'failed', runId, error });
    return { status: 'failed', error };
  } finally {
    clearInterval(beat);
    await parallel?.close();
    optimizer?.dispose();
    method?.dispose();
  }
}

/**
 * Loads the run's resume state into the new method and optimizer, and removes from the store (and the run
 * folder) what the interrupted attempt recorded after that point, so no step or evaluation is there twice.
 */
async function restore(o: Ctx, dir: string, method: Method, optimizer: Optimizer, stepsPerEpoch: number): Promise<ResumePoint & { lastKnn?: number }> {
  const point = loadResumeState(dir, method, optimizer);
  const inEpoch = point.step - point.epoch * stepsPerEpoch;
  const fits = (point.stepsPerEpoch ?? stepsPerEpoch) === stepsPerEpoch && (point.partial ? inEpoch > 0 && inEpoch < stepsPerEpoch : inEpoch === 0);
  if (!fits)
    throw new Error(`the resume state is at step ${point.step}, ${point.partial ? 'in' : 'after'} epoch ${point.partial ? point.epoch + 1 : point.epoch}, but an epoch now has ${stepsPerEpoch} steps: the training data changed since; start the run again`);
  removeArtifactFiles(o, await o.writer.write(() => o.store.discardAfter(o.runId, point)));
  const knn = (await o.store.getEvals(o.runId)).filter((e) => e.protocol === 'knn');
  return { ...point, lastKnn: knn.at(-1)?.value };
}

/** Deletes artifact files, only inside the run's own folder whatever a row says. */
function removeArtifactFiles(o: TrainOptions, artifacts: ArtifactRow[]): void {
  const folder = runFolder(o.dbPath, o.runId);
  for (const a of artifacts) {
    const p = resolve(dirname(o.dbPath), a.path);
    if (p.startsWith(folder + sep)) rmSync(p, { recursive: true, force: true });
  }
}

function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

function gatherLabels(labels: Int32Array, idx: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: idx.length }, (_, i) => labels[idx[i]]);
}

async function record(o: Ctx, e: EvalRecord): Promise<void> {
  await o.writer.write(() => o.store.recordEval(o.runId, e));
  o.emit({ type: 'eval', runId: o.runId, eval: e });
}

/** kNN monitor (train bank, test queries; labeled data only) and the collapse indicator; returns kNN accuracy. */
async function evaluateEpoch(method: Method, data: Dataset, trainIdx: Int32Array, stats: { mean: number[]; std: number[] }, config: RunConfig, epoch: number, hash: string, o: Ctx): Promise<number | undefined> {
  const knn = data.classNames.length > 0 ? await knnMonitor(method, data, trainIdx, stats, config, epoch, hash, o) : undefined;
  const { test } = data;
  const sample = range(Math.min(test.count, 2048));
  const z = await mapSplit(test, sample, stats, (x) => method.projection(x));
  const zt = tf.tensor2d(z.values, [sample.length, z.dim]);
  const [std, healthy] = await collapseStd(zt);
  zt.dispose();
  await record(o, { protocol: 'collapse', value: std, epoch, details: { measure: 'mean per-dimension std of L2-normalised projector output', healthy, dims: z.dim, split: 'test', size: sample.length, configHash: hash } });
  const knnText = knn === undefined ? '' : `kNN ${(knn * 100).toFixed(2)}% (k=${config.eval.knnK}), `;
  o.emit({ type: 'log', runId: o.runId, level: 'info', message: `epoch ${epoch}: ${knnText}collapse std ${std.toFixed(4)} (healthy ≈ ${healthy.toFixed(4)})` });
  return knn;
}

async function knnMonitor(method: Method, data: Dataset, trainIdx: Int32Array, stats: { mean: number[]; std: number[] }, config: RunConfig, epoch: number, hash: string, o: Ctx): Promise<number> {
  const { train, test } = data;
  const bank = await mapSplit(train, trainIdx, stats, (x) => method.encoder.features(x, false));
  const queries = await mapSplit(test, range(test.count), stats, (x) => method.encoder.features(x, false));
  const b = tf.tensor2d(bank.values, [trainIdx.length, bank.dim]);
  const q = tf.tensor2d(queries.values, [test.count, queries.dim]);
  let knn: number;
  try {
    knn = await knnAccuracy(b, gatherLabels(train.labels, trainIdx), q, test.labels, data.classNames.length, config.eval.knnK, config.eval.knnTemperature);
  } finally {
    tf.dispose([b, q]);
  }
  await record(o, {
    protocol: 'knn',
    value: knn,
    epoch,
    details: { k: config.eval.knnK, temperature: config.eval.knnTemperature, similarity: 'cosine', features: 'encoder (pooled, before projector)', bankSplit: 'train', bankSize: trainIdx.length, querySplit: 'test', querySize: test.count, configHash: hash },
  });
  return knn;
}

async function saveEmbeddings(method: Method, data: Dataset, stats: { mean: number[]; std: number[] }, config: RunConfig, epoch: number, o: Ctx): Promise<void> {
  const idx = range(Math.min(data.test.count, config.eval.embeddingSamples));
  const f = await mapSplit(data.test, idx, stats, (x) => method.encoder.features(x, false));
  await o.writer.write(() => o.store.recordEmbedding(o.runId, { epoch, split: 'test', dim: f.dim, vectors: f.values, labels: gatherLabels(data.test.labels, idx), indices: idx }));
}
