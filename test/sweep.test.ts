import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from 'sqlite3';
import { countRuns, expandSweep, parseSweep, SweepError, sweepJsonSchema } from '../src/core/sweep';
import { MIGRATIONS, APPLICATION_ID } from '../src/store/schema';
import { RunStore } from '../src/store/store';
import { summarizeSweep, sweepCsv } from '../src/store/sweeps';

const tmp = mkdtempSync(join(tmpdir(), 'clab-sweep-'));
const base = { method: 'simclr', epochs: 1, trainLimit: 64, batchSize: 32, encoder: { preset: 'tiny' } };

function problemsOf(raw: unknown): string[] {
  try {
    expandSweep(raw);
  } catch (e) {
    assert.ok(e instanceof SweepError, String(e));
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('the sweep was accepted');
}

describe('sweep files', () => {
  test('a grid expands to every combination, the first axis slowest, each run named by its values', () => {
    const e = expandSweep({ name: 'lr', base, grid: { 'optimizer.lr': [0.001, 0.003], seed: [0, 1, 2] } });
    assert.equal(e.runs.length, 6);
    assert.deepEqual(
      e.runs.map((r) => [r.config.optimizer.lr, r.config.seed]),
      [
        [0.001, 0],
        [0.001, 1],
        [0.001, 2],
        [0.003, 0],
        [0.003, 1],
        [0.003, 2],
      ],
    );
    assert.equal(e.runs[4].config.name, 'lr · lr=0.003 seed=1');
    assert.deepEqual(e.runs[4].axisValues, { 'optimizer.lr': 0.003, seed: 1 });
    // Every run is a fully resolved config: defaults filled in, the base kept.
    assert.equal(e.runs[0].config.epochs, 1);
    assert.equal(e.runs[0].config.projector.hidden > 0, true);
    assert.deepEqual(e.axes.map((a) => [a.name, a.kind, a.labels]), [
      ['optimizer.lr', 'grid', ['0.001', '0.003']],
      ['seed', 'grid', ['0', '1', '2']],
    ]);
  });

  test('named axes set several keys; a grid over method gives each method its own defaults', () => {
    const e = expandSweep({
      // The paper recipes differ by method (BYOL's optimiser is not SimCLR's); the short ones share Adam.
      base: { ...base, recipe: 'paper' },
      grid: {
        method: ['simclr', 'byol'],
        augmentation: [
          { label: 'weak', set: { 'augment.view1.cropMinScale': 0.8, 'augment.view2.cropMinScale': 0.8 } },
          { label: 'strong', set: { 'augment.view1.cropMinScale': 0.08 } },
        ],
      },
    });
    assert.equal(e.runs.length, 4);
    assert.deepEqual(e.runs[1].axisValues, { method: 'simclr', augmentation: 'strong' });
    assert.equal(e.runs[1].config.augment.view1.cropMinScale, 0.08);
    assert.equal(e.runs[0].config.augment.view2.cropMinScale, 0.8);
    // BYOL's own optimiser default, not SimCLR's.
    assert.notDeepEqual(e.runs[2].config.optimizer, e.runs[0].config.optimizer);
    // Runs do not share objects: changing one config leaves the others alone.
    e.runs[0].config.augment.view1.cropMinScale = 0.5;
    assert.equal(e.runs[2].config.augment.view1.cropMinScale !== 0.5, true);
  });

  test('random samples are reproducible, within their ranges, and the same draw at every grid point', () => {
    const raw = {
      base,
      grid: { seed: [0, 1] },
      random: { samples: 5, seed: 7, params: { 'optimizer.lr': { distribution: 'log-uniform', min: 1e-4, max: 1e-2 }, 'projector.out': { distribution: 'choice', values: [16, 32] }, 'projector.hidden': { distribution: 'int-uniform', min: 8, max: 12 } } },
    };
    const a = expandSweep(raw);
    const b = expandSweep(raw);
    assert.equal(a.runs.length, 10);
    assert.equal(countRuns(a.spec), 10);
    assert.deepEqual(a.runs.map((r) => r.axisValues), b.runs.map((r) => r.axisValues));
    for (const r of a.runs) {
      assert.ok(r.config.optimizer.lr >= 1e-4 && r.config.optimizer.lr <= 1e-2);
      assert.ok([16, 32].includes(r.config.projector.out));
      assert.ok(Number.isInteger(r.config.projector.hidden) && r.config.projector.hidden >= 8 && r.config.projector.hidden <= 12);
    }
    // Sample i at seed 0 and at seed 1 is the same point.
    assert.equal(a.runs[0].config.optimizer.lr, a.runs[5].config.optimizer.lr);
    assert.equal(new Set(a.runs.map((r) => r.config.optimizer.lr)).size, 5);
  });

  test('bad values are named at their key path in the sweep file, counted over runs, and nothing is expanded', () => {
    const p = problemsOf({ base: { ...base, epochs: 0 }, grid: { 'optimizer.lr': [0.001, -1], seed: [0, 1] } });
    assert.deepEqual(p.sort(), ['base.epochs: must be ≥ 1, got 0 (in 4 runs)', 'grid."optimizer.lr"[1]: must be > 0, got -1 (optimizer.lr) (in 2 runs)'].sort());
    assert.deepEqual(problemsOf({ base, grid: { method: ['simclr', 'simclear'] } }), ['grid.method[1]: must be one of simclr, mocov1, mocov2, byol, simsiam, instdisc, cpc, cpcv2, dim, cmc, pixpro; got "simclear" (method)']);
    assert.deepEqual(problemsOf({ base, grid: { aug: [{ label: 'x', set: { 'augment.view1.cropMinScale': 3 } }] } }), ['grid.aug[0].set."augment.view1.cropMinScale": must be ≤ 1, got 3 (augment.view1.cropMinScale)']);
    assert.deepEqual(problemsOf({ base, grid: { 'optimizer.lr': [] } }), ['grid."optimizer.lr": must be a non-empty list of values']);
    assert.deepEqual(problemsOf({ base, grid: { seed: [1, 1] } }), ['grid.seed[1]: repeats the value 1']);
    assert.deepEqual(problemsOf({ base, grdi: {} }), ['grdi: unknown key (known here: name, description, base, grid, random, jobs, view)']);
    assert.deepEqual(problemsOf({ base, random: { samples: 2, params: { 'optimizer.lr': { distribution: 'log-uniform', min: 0, max: 1 } } } }), ['random.params."optimizer.lr".min: must be > 0 for a log-uniform distribution, got 0']);
    assert.deepEqual(problemsOf({ base, grid: { seed: [0] }, view: { rows: 'lr' } }), ['view.rows: must name an axis of the sweep (seed), got "lr"']);
    assert.deepEqual(problemsOf({ base: { epochs: 1 }, grid: { seed: [0] } }), ['base.method: is required (one of simclr, mocov1, mocov2, byol, simsiam, instdisc, cpc, cpcv2, dim, cmc, pixpro)']);
    assert.deepEqual(problemsOf([1, 2]), ['(sweep): must be a JSON object']);
    assert.match(problemsOf({ base, grid: { seed: Array.from({ length: 400 }, (_, i) => i), 'optimizer.lr': Array.from({ length: 400 }, (_, i) => (i + 1) / 1e4) } })[0], /makes 160000 runs; a sweep makes at most 100000/);
  });

  test('the sweep schema completes grid keys to config paths and refers base to the run-config schema', () => {
    const s = sweepJsonSchema() as { properties: { base: { $ref: string }; grid: { properties: Record<string, { items: Record<string, unknown> }> } } };
    assert.equal(s.properties.base.$ref, './clrun.schema.json');
    assert.ok('optimizer.lr' in s.properties.grid.properties);
    assert.equal(s.properties.grid.properties['optimizer.lr'].items.type, 'number');
    assert.ok('augment.view1.cropMinScale' in s.properties.grid.properties);
    assert.equal(parseSweep({ base, grid: { seed: [0] } }).problems.length, 0);
  });
});

describe('sweeps in the store', () => {
  test('a sweep is recorded with its runs queued in order; the summary folds seeds into mean ± std and marks the best cell', async () => {
    const store = await RunStore.open(join(tmp, 'summary.db'));
    const e = expandSweep({ name: 'two axes', base, grid: { 'optimizer.lr': [0.001, 0.01], 'projector.out': [16, 32], seed: [0, 1] }, view: { metric: 'knn' } });
    const { sweepId, runIds } = await store.createSweep({ name: e.spec.name, spec: e.spec, axes: e.axes, runs: e.runs });
    assert.equal(runIds.length, 8);
    assert.deepEqual((await store.queuedRuns()).map((r) => r.id), runIds);
    const runs = await store.sweepRuns(sweepId);
    assert.deepEqual(runs.map((r) => r.sweepIndex), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(runs[5].axisValues, { 'optimizer.lr': 0.01, 'projector.out': 16, seed: 1 });
    // Record results as the workers would: kNN = lr × 10 + out / 1000 + seed / 100.
    for (const r of runs) {
      await store.markRunning(r.id, { backend: 'cpu', device: 'cpu', versions: {}, pid: process.pid, host: 'h' });
      const v = r.config.optimizer.lr * 10 + r.config.projector.out / 1000 + r.config.seed / 100;
      await store.recordEval(r.id, { protocol: 'knn', value: v - 0.05, epoch: 1, details: {} });
      await store.recordEval(r.id, { protocol: 'knn', value: v, epoch: 1, details: {} });
      if (r.sweepIndex !== 7) await store.finishRun(r.id, 'completed');
      else await store.finishRun(r.id, 'failed', 'diverged');
    }
    const sweep = (await store.getSweep(sweepId))!;
    assert.deepEqual(sweep.counts, { queued: 0, running: 0, completed: 7, failed: 1, cancelled: 0 });
    const s = summarizeSweep(sweep, await store.sweepRuns(sweepId), await store.evalsOf(runIds));
    assert.deepEqual(s.cellAxes, ['optimizer.lr', 'projector.out']);
    assert.equal(s.view.rows, 'optimizer.lr');
    assert.equal(s.view.columns, 'projector.out');
    assert.equal(s.cells.length, 4);
    const c0 = s.cells[0];
    assert.deepEqual(c0.key, { 'optimizer.lr': 0.001, 'projector.out': 16 });
    assert.ok(Math.abs(c0.metrics.knn!.mean - (0.01 + 0.016 + 0.005)) < 1e-9);
    assert.ok(Math.abs(c0.metrics.knn!.std - Math.SQRT1_2 * 0.01) < 1e-9);
    // The failed run is not averaged in: its cell has one completed seed.
    assert.equal(s.cells[3].done, 1);
    assert.equal(s.cells[3].metrics.knn!.n, 1);
    assert.equal(s.best, 3);
    const csv = sweepCsv(s).trim().split('\n');
    assert.equal(csv[0], 'run,name,status,optimizer.lr,projector.out,seed,linear,knn,bestKnn,collapse,epochs done,epochs');
    assert.equal(csv.length, 9);
    assert.match(csv[8], /,failed,0\.01,32,1,/);
    await assert.rejects(store.deleteSweep(sweepId + 1), /sweep \d+ does not exist/);
    const del = await store.deleteSweep(sweepId);
    assert.deepEqual(del.runIds, runIds);
    assert.equal((await store.listRuns()).length, 0);
    await store.close();
  });

  test('only the lease holder claims, never the same run twice, and a lapsed lease passes to another runner', async () => {
    const db = join(tmp, 'lease.db');
    const a = await RunStore.open(db);
    const b = await RunStore.open(db);
    const e = expandSweep({ base, grid: { seed: [0, 1, 2, 3, 4, 5] }, jobs: 2 });
    await a.createSweep({ name: 's', spec: e.spec, axes: e.axes, jobs: 2, runs: e.runs });
    assert.equal(await a.acquireQueueLease('A', 300, { host: 'h', pid: 1 }), true);
    assert.equal(await b.acquireQueueLease('B', 300, { host: 'h', pid: 2 }), false);
    assert.equal(await b.claimQueuedRun('B'), undefined, 'a runner without the lease claimed a run');
    // The sweep's `jobs` caps its running runs at 2, whatever the runner's own limit.
    const first = await Promise.all([a.claimQueuedRun('A'), a.claimQueuedRun('A'), a.claimQueuedRun('A')]);
    assert.deepEqual(first.map((c) => c?.run.sweepIndex), [0, 1, undefined]);
    assert.equal(first[0]!.run.status, 'running');
    assert.equal(first[0]!.run.claimedBy, 'A');
    await a.finishRun(first[0]!.run.id, 'completed');
    await a.setQueuePaused(true);
    assert.equal(await a.claimQueuedRun('A'), undefined, 'a paused queue started a run');
    await a.setQueuePaused(false);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(await b.acquireQueueLease('B', 5000, { host: 'h', pid: 2 }), true, 'the lapsed lease was not taken over');
    assert.equal(await a.claimQueuedRun('A'), undefined, 'the old holder still claimed after losing the lease');
    const next = await b.claimQueuedRun('B');
    assert.equal(next?.run.sweepIndex, 2);
    const q = await a.queueState();
    assert.equal(q.holder?.id, 'B');
    assert.equal(q.queued, 3);
    assert.equal(q.running, 2);
    // Re-queue: a failed run goes to the end, and `start` removes what it recorded.
    await b.recordEval(next!.run.id, { protocol: 'knn', value: 0.5, epoch: 1, details: {} });
    await b.finishRun(next!.run.id, 'failed', 'boom');
    await b.requeueRun(next!.run.id, 'start');
    assert.deepEqual((await b.getEvals(next!.run.id)).length, 0);
    assert.equal((await b.queuedRuns()).at(-1)?.id, next!.run.id);
    await assert.rejects(b.requeueRun(first[0]!.run.id, 'start'), /is completed: only a failed, cancelled or crashed run/);
    assert.equal((await b.cancelQueued()).length, 4);
    await b.releaseQueueLease('B');
    assert.equal((await a.queueState()).holder, null);
    await a.close();
    await b.close();
  });

  test('a version-2 database migrates: its tables stay, a run queued in a window that closed is cancelled', async () => {
    const file = join(tmp, 'v2.db');
    await new Promise<void>((resolve, reject) => {
      const db = new Database(file, (err) => {
        if (err) return reject(err);
        db.exec(
          `${MIGRATIONS[0]}${MIGRATIONS[1]}
           INSERT INTO runs (name, method, dataset, config, config_hash, status, created_at) VALUES ('old', 'simclr', 'builtin', '{}', 'h', 'queued', 1), ('done', 'simclr', 'builtin', '{}', 'h', 'completed', 2);
           PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = 2;`,
          (e) => db.close(() => (e ? reject(e) : resolve())),
        );
      });
    });
    const store = await RunStore.open(file);
    const runs = await store.listRuns();
    assert.deepEqual(runs.map((r) => [r.name, r.status, r.sweepId]), [
      ['done', 'completed', null],
      ['old', 'cancelled', null],
    ]);
    assert.match(runs[1].error ?? '', /queued in a window that closed/);
    assert.deepEqual(await store.listSweeps(), []);
    assert.equal((await store.queueState()).paused, false);
    await store.close();
  });
});

describe('built-in studies', () => {
  test('every built-in study is a valid sweep file', async () => {
    const { STUDIES } = await import('../src/core/studies');
    for (const s of STUDIES) {
      const e = expandSweep(s.sweep);
      assert.ok(e.runs.length > 0, s.id);
    }
    const { EVERY_METHOD_STUDY, CPC_V2_STUDY, SIMCLR_AUGMENTATION_STUDY } = await import('../src/core/studies');
    const { studyAugment, IDENTITY_AUGMENT } = await import('../src/core/augment-spec');
    const aug = expandSweep(SIMCLR_AUGMENTATION_STUDY.sweep);
    assert.equal(aug.runs.length, 49);
    assert.deepEqual(aug.axes.map((a) => [a.name, a.kind]), [
      ['transformations', 'named'],
      ['first', 'derived'],
      ['second', 'derived'],
    ]);
    // Cell (crop, color): crop then colour on view 1 exactly as studyAugment builds it; view 2 untouched.
    const cc = aug.runs.find((r) => r.axisValues.first === 'crop' && r.axisValues.second === 'color')!;
    const want = studyAugment('crop', 'color') as unknown as Record<string, number | string>;
    for (const [k, v] of Object.entries(want)) assert.ok(typeof v === 'string' ? (cc.config.augment.view1 as unknown as Record<string, unknown>)[k] === v : Math.abs(((cc.config.augment.view1 as unknown as Record<string, number>)[k]) - v) < 1e-5, `view1.${k}`);
    assert.deepEqual(cc.config.augment.view2, { ...cc.config.augment.view2, ...IDENTITY_AUGMENT });
    assert.equal(cc.config.name, 'SimCLR augmentation study · transformations=crop→color');
    assert.equal(aug.runs.filter((r) => r.axisValues.first === r.axisValues.second).length, 7);
    assert.equal(expandSweep(EVERY_METHOD_STUDY.sweep).runs.length, 33);
    const cpc = expandSweep(CPC_V2_STUDY.sweep).runs;
    assert.deepEqual(cpc.filter((r) => r.config.seed === 0).map((r) => [r.config.method, r.config.params.directions, r.config.params.patchSize, r.config.params.patchAugment]), [
      ['cpc', undefined, 8, undefined],
      ['cpcv2', 'top-down', 8, false],
      ['cpcv2', 'vertical', 8, false],
      ['cpcv2', 'vertical', 10, false],
      ['cpcv2', 'vertical', 10, true],
    ]);
  });
});

describe('the sweep view reads every sweep the files can make', () => {
  test('the SimCLR study (a named axis placed on first × second) is a heatmap the view accepts; the raw-pixel baseline comes along', async () => {
    const { SIMCLR_AUGMENTATION_STUDY } = await import('../src/core/studies');
    const { isSweepSummary } = await import('../src/webviews/protocol/sweep');
    const store = await RunStore.open(join(tmp, 'study.db'));
    const e = expandSweep(SIMCLR_AUGMENTATION_STUDY.sweep);
    const { sweepId } = await store.createSweep({ name: e.spec.name, spec: e.spec, axes: e.axes, jobs: e.spec.jobs, runs: e.runs });
    const runs = await store.sweepRuns(sweepId);
    for (const r of runs.slice(0, 3)) {
      await store.recordEval(r.id, { protocol: 'knn-raw-pixels', value: 0.704, epoch: 0, details: {} });
      await store.recordEval(r.id, { protocol: 'linear', value: 0.7, epoch: 3, details: {} });
      await store.finishRun(r.id, 'completed');
    }
    const s = summarizeSweep((await store.getSweep(sweepId))!, await store.sweepRuns(sweepId), await store.sweepEvals(sweepId));
    assert.deepEqual(s.cellAxes, ['first', 'second']);
    assert.equal(s.view.rows, 'first');
    assert.equal(s.cells.length, 49);
    assert.ok(Math.abs(s.rawPixelsKnn! - 0.704) < 1e-9);
    assert.ok(isSweepSummary(JSON.parse(JSON.stringify(s))), 'the sweep view refuses the study');
    await store.close();
  });
});
