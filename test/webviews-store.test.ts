import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/core/config';
import { RunStore } from '../src/store/store';

// The embedding explorer's projection cache (schema migration 1 → 2).
test('a projection is cached per embedding, method and params, replaced on save, and deleted with its run', async () => {
  const store = await RunStore.open(join(mkdtempSync(join(tmpdir(), 'clab-proj-')), 'runs.db'));
  const runId = await store.createRun(resolveConfig({ method: 'simclr' }).config!);
  const embeddingId = await store.recordEmbedding(runId, { epoch: 1, split: 'test', dim: 2, vectors: new Float32Array([1, 2, 3, 4, 5, 6]), labels: new Int32Array([0, 1, 2]), indices: new Int32Array([0, 1, 2]) });
  assert.equal(await store.getProjection(embeddingId, 'tsne', '{"perplexity":30}'), undefined);
  await store.saveProjection(embeddingId, { method: 'tsne', params: '{"perplexity":30}', coords: new Float32Array([0.5, 1, 2, 3, 4, 5]), iterations: 1000, kl: 1.25, seconds: 3 });
  const p = await store.getProjection(embeddingId, 'tsne', '{"perplexity":30}');
  assert.deepEqual([...p!.coords], [0.5, 1, 2, 3, 4, 5]);
  assert.equal(p!.kl, 1.25);
  assert.equal(await store.getProjection(embeddingId, 'tsne', '{"perplexity":5}'), undefined);
  assert.equal(await store.getProjection(embeddingId, 'umap', '{"perplexity":30}'), undefined);
  await store.saveProjection(embeddingId, { method: 'tsne', params: '{"perplexity":30}', coords: new Float32Array(6).fill(7), iterations: 500, kl: null, seconds: 1 });
  const q = await store.getProjection(embeddingId, 'tsne', '{"perplexity":30}');
  assert.equal(q!.iterations, 500);
  assert.equal(q!.kl, null);
  await assert.rejects(store.saveProjection(999, { method: 'pca', params: '{}', coords: new Float32Array(2), iterations: 0, kl: null, seconds: 0 }), /embedding 999 does not exist/);
  await store.deleteRun(runId);
  assert.equal(await store.getProjection(embeddingId, 'tsne', '{"perplexity":30}'), undefined);
  await store.close();
});
