import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configHash, resolveConfig, runConfigJsonSchema } from '../src/core/config';

test('a minimal config gets every default from the method and the shared sections', () => {
  const r = resolveConfig({ method: 'simclr' });
  assert.deepEqual(r.problems, []);
  assert.equal(r.config!.dataset, 'builtin');
  assert.equal(r.config!.params.temperature, 0.5);
  assert.equal(r.config!.augment.view1.cropMinScale, 0.2);
  assert.equal(r.config!.name, 'SimCLR on builtin');
});

test('each bad value and unknown key gets its own message naming the path', () => {
  const r = resolveConfig({ method: 'simclr', epochs: -1, batchSize: 'lots', optimizer: { lr: 0, bogus: 1 }, params: { temperature: 0 }, colour: true });
  const paths = r.problems.map((p) => p.path).sort();
  assert.deepEqual(paths, ['batchSize', 'colour', 'epochs', 'optimizer.bogus', 'optimizer.lr', 'params.temperature']);
  assert.equal(r.config, undefined);
  assert.match(r.problems.find((p) => p.path === 'epochs')!.message, /≥ 1/);
});

test('an unknown method is named with the known ones, and shared keys are still checked', () => {
  const r = resolveConfig({ method: 'simclear', epochs: 0 });
  assert.match(r.problems[0].message, /simclr/);
  assert.ok(r.problems.some((p) => p.path === 'epochs'));
});

test('crop scale range must be ordered', () => {
  const r = resolveConfig({ method: 'simclr', augment: { view2: { cropMinScale: 0.9, cropMaxScale: 0.5 } } });
  assert.deepEqual(r.problems.map((p) => p.path), ['augment.view2.cropMinScale']);
});

test('config hash ignores key order and the run name but not hyper-parameters', () => {
  const a = resolveConfig({ method: 'simclr', epochs: 3, seed: 1 }).config!;
  const b = resolveConfig({ seed: 1, epochs: 3, method: 'simclr', name: 'other' }).config!;
  const c = resolveConfig({ method: 'simclr', epochs: 4, seed: 1 }).config!;
  assert.equal(configHash(a), configHash(b));
  assert.notEqual(configHash(a), configHash(c));
});

test('the JSON schema offers the methods and per-method params', () => {
  const s = runConfigJsonSchema() as { properties: { method: { enum: string[] } }; allOf: { then: { properties: { params: { properties: object } } } }[] };
  assert.ok(s.properties.method.enum.includes('simclr'));
  assert.ok('temperature' in s.allOf[0].then.properties.params.properties);
});

test('config hashes of recorded runs do not change: every method default keeps its hash, and a field at its legacyValue is left out', () => {
  // The hashes runs were recorded with (sessions 1–4). A new field without a legacyValue changes them, and
  // then recorded runs no longer match their own config: they stop resuming and the curve queue retrains them.
  const recorded: Record<string, string> = {
    simclr: '8657b0a6fada', mocov1: '7cab17eff3f3', mocov2: '57673bc902ac', byol: 'd0ce2da75e7f', simsiam: 'e3305b77c36a', instdisc: 'b78a454dd101',
    cpc: '0ce78888c717', cpcv2: '324ea84e5a47', dim: '29d7089f6896', cmc: '3bf097077281', pixpro: '0a0b0a85b57a',
  };
  // The paper recipe is what every default was; a run recorded then has no `recipe` key, which is the
  // same as recipe "paper" (its legacyValue). Three paper defaults were since corrected to the official
  // code (DIM, CPC, InstDisc): their old defaults, spelled out, must still hash as recorded.
  const before: Record<string, Record<string, unknown>> = {
    dim: { optimizer: { lr: 1e-3 }, batchSize: 256, params: { yActivation: 'sigmoid', generatorLoss: 'minimax' } },
    cpc: { params: { patchNorm: 'batch' } },
    instdisc: { batchSize: 256, params: { temperature: 0.07 }, augment: { view1: { flipProb: 0.5 }, view2: { flipProb: 0.5 } } },
  };
  for (const [method, hash] of Object.entries(recorded))
    assert.equal(configHash(resolveConfig({ method, recipe: 'paper', ...before[method] }).config!), hash, `${method}: the paper config's hash changed`);
  // InstDisc's bankInit came later: "random" (what runs did before) hashes as if it were not there.
  const withField = resolveConfig({ method: 'instdisc', recipe: 'paper' }).config!;
  assert.equal(withField.params.bankInit, 'random');
  const { bankInit: _drop, ...paramsBefore } = withField.params;
  assert.equal(configHash({ ...withField, params: paramsBefore }), configHash(withField));
  assert.notEqual(configHash(resolveConfig({ method: 'instdisc', recipe: 'paper', params: { bankInit: 'features' } }).config!), configHash(withField));
});
