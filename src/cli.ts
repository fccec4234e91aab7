/**
 * `clab`: the headless Contrastive Lab. It works on the same SQLite database as the extension, so a run
 * started here shows up in the editor's Runs view, and the other way round.
 */
import { parseArgs } from 'node:util';
import { formatProblems, recipeDifferences, resolveConfig, resolveRecordedConfig, runConfigJsonSchema, type RunConfig } from './core/config';
import { METHOD_INFO } from './core/methods';
import { DATA_OPTIONS_USAGE, DATA_USAGE, runDataCommand } from './cli/data';
import { exportRun } from './store/export';
import { DatasetError, loadDataset, type Dataset } from './data/datasets';
import { PACK_USAGE, packCommand, unpackCommand } from './cli/pack';
import { printRun, printRuns } from './cli/show';
import { queueCommand, SWEEP_USAGE, sweepCommand } from './cli/sweep';
import { rawTrainConfig, TRAIN_FLAGS, UsageError } from './cli/train-args';
import { sweepJsonSchema } from './core/sweep';
import { checkResumable, ResumeRefused } from './store/resume';
import { RunStore, defaultDatabasePath } from './store/store';

const USAGE = `Usage: clab <command> [options]

Commands:
  train [--config run.clrun.json] [flags]   train a run and record it
  resume <id>                               continue a cancelled, failed or crashed run from where it
                                            stopped or its last finished epoch (with its recorded config)
  runs                                      list recorded runs, newest first
  show <id>                                 a run's config, status, evaluations and artifacts
  export <id> [--out DIR] [--epoch N]       metrics.csv, and embeddings as TensorBoard-projector TSV
${PACK_USAGE}
${SWEEP_USAGE}
  schema [--sweep]                          print the JSON schema of run-config (sweep) files
  methods                                   list the available methods
${DATA_USAGE}

Options for every command:
  --db PATH      the run database (default: ${defaultDatabasePath()}; env CLAB_DB)
  --json         machine-readable output (train, resume: one final JSON line; runs/show: JSON)
  --verbose      train, resume: also print the backend probing and other debug lines

${DATA_OPTIONS_USAGE}

Train flags (override the config file; any key: --set optimizer.weightDecay=1e-4):
${Object.entries(TRAIN_FLAGS)
  .map(([k, f]) => `  --${k.padEnd(13)}${f.help}`)
  .join('\n')}
  --set K=V      set any config key by its dotted path (repeatable)
  --extra-module-dir DIR   also look for @tensorflow/tfjs-node(-gpu) and webgpu under DIR/node_modules
`;

const OPTIONS = {
  db: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  out: { type: 'string' },
  epoch: { type: 'string' },
  embeddings: { type: 'string' },
  checkpoints: { type: 'string' },
  'extra-module-dir': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h', default: false },
  'cache-dir': { type: 'string' },
  mirror: { type: 'string' },
  force: { type: 'boolean', default: false },
  'image-size': { type: 'string' },
  jobs: { type: 'string' },
  'max-runs': { type: 'string' },
  yes: { type: 'boolean', default: false },
  detach: { type: 'boolean', default: false },
  watch: { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  csv: { type: 'boolean', default: false },
  sweep: { type: 'boolean', default: false },
  ...Object.fromEntries(Object.keys(TRAIN_FLAGS).map((k) => [k, { type: 'string' }])),
} as const;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`clab: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const dbPath = values.db ?? defaultDatabasePath();
  const json = values.json === true;
  const verbose = values.verbose === true;
  switch (command) {
    case 'train':
      return train(values as Record<string, string | string[] | boolean | undefined>, dbPath, { json, verbose });
    case 'resume': {
      const id = Number(rest[0]);
      if (!(Number.isInteger(id) && id > 0)) {
        process.stderr.write(`clab resume: expected a run id, got '${rest[0] ?? ''}'\n`);
        return 2;
      }
      return resume(id, values['extra-module-dir'], dbPath, { json, verbose });
    }
    case 'unpack': {
      if (rest.length !== 1) {
        process.stderr.write(`clab unpack: expected one .clabrun file, got ${rest.length}\n`);
        return 2;
      }
      const store = await RunStore.open(dbPath);
      try {
        return await unpackCommand(store, dbPath, rest[0], json);
      } finally {
        await store.close();
      }
    }
    case 'runs':
    case 'show':
    case 'pack':
    case 'export': {
      const id = Number(rest[0]);
      if (command !== 'runs' && !(Number.isInteger(id) && id > 0)) {
        process.stderr.write(`clab ${command}: expected a run id, got '${rest[0] ?? ''}'\n`);
        return 2;
      }
      const store = await RunStore.open(dbPath);
      try {
        if (command === 'runs') return await printRuns(store, json);
        if (command === 'show') return await printRun(store, id, json);
        if (command === 'pack') return await packCommand(store, dbPath, id, { ...values, json });
        return await exportRun(store, id, values.out ?? `run-${id}-export`, values.epoch === undefined ? undefined : Number(values.epoch), {
          info: (m) => process.stdout.write(`${m}\n`),
          error: (m) => process.stderr.write(`clab export: ${m}\n`),
        });
      } finally {
        await store.close();
      }
    }
    case 'data':
      return runDataCommand(rest, values);
    case 'sweep':
      return sweepCommand(rest, values, dbPath, json);
    case 'queue':
      return queueCommand(rest, values, dbPath, json);
    case 'schema':
      process.stdout.write(`${JSON.stringify(values.sweep ? sweepJsonSchema() : runConfigJsonSchema(), null, 2)}\n`);
      return 0;
    case 'methods':
      for (const m of Object.values(METHOD_INFO)) {
        const short = recipeDifferences(m.id).map((d) => `${d.path} ${String(d.short)} (paper ${String(d.paper)})`);
        process.stdout.write(`${m.id.padEnd(10)} ${m.label.padEnd(10)} ${m.paper}\n           ${m.summary}\n           recipe short: ${short.join(', ')}\n`);
      }
      return 0;
    default:
      process.stderr.write(`clab: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

async function train(values: Record<string, string | string[] | boolean | undefined>, dbPath: string, out: { json: boolean; verbose: boolean }): Promise<number> {
  let raw;
  try {
    raw = rawTrainConfig(values);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`clab train: ${e.message}\n`);
    return 2;
  }
  const { config, problems } = resolveConfig(raw);
  if (!config) {
    // Nothing is written for an invalid config: the database is not even opened.
    process.stderr.write(`clab train: invalid run config (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n${formatProblems(problems, typeof values.config === 'string' ? values.config : 'config')}\n`);
    return 2;
  }
  // The same for a dataset that cannot be read (a mistyped folder, a truncated download): it is loaded
  // here, before the run is recorded, and handed to the training so it is read once.
  let dataset: Dataset;
  try {
    dataset = loadDataset(config.dataset, { imageSize: config.imageSize });
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    process.stderr.write(`clab train: ${e.message}\n(no run was recorded)\n`);
    return 2;
  }
  const store = await RunStore.open(dbPath);
  try {
    const runId = await store.createRun(config, { status: 'running' });
    return await trainInTerminal(store, config, runId, { dbPath, ...out, dataset, extraModuleDirs: values['extra-module-dir'] as string[] | undefined });
  } finally {
    await store.close();
  }
}

async function resume(runId: number, extraModuleDirs: string[] | undefined, dbPath: string, out: { json: boolean; verbose: boolean }): Promise<number> {
  const store = await RunStore.open(dbPath);
  try {
    const { run } = await checkResumable(store, dbPath, runId);
    // Re-validated: a config recorded by an older version may no longer be accepted.
    const { config, problems } = resolveRecordedConfig(run.config as unknown as Record<string, unknown>);
    if (!config) throw new ResumeRefused(`run ${runId}'s recorded config is no longer valid:\n${formatProblems(problems)}`);
    return await trainInTerminal(store, config, runId, { dbPath, ...out, extraModuleDirs, resume: true });
  } catch (e) {
    if (!(e instanceof ResumeRefused)) throw e;
    process.stderr.write(`clab resume: ${e.message}\n`);
    return 2;
  } finally {
    await store.close();
  }
}

/** Trains run `runId` with progress on stderr (Ctrl-C stops after the step), then its outcome on stdout. */
async function trainInTerminal(store: RunStore, config: RunConfig, runId: number, o: { dbPath: string; json: boolean; verbose: boolean; dataset?: Dataset; extraModuleDirs?: string[]; resume?: boolean }): Promise<number> {
  const { dbPath, json } = o;
  // Loaded lazily: `clab runs` should not pay for TensorFlow.js.
  const { runTraining } = await import('./engine/train');
  const { consoleReporter } = await import('./cli/progress');
  const cancel = { requested: false };
  const onSignal = (sig: string) => {
    if (cancel.requested) process.exit(130); // second Ctrl-C: leave now; the store stays consistent
    cancel.requested = true;
    process.stderr.write(`\n${sig}: stopping after the current step (again to quit at once)…\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const reporter = consoleReporter(process.stderr, { verbose: o.verbose });
    const outcome = await runTraining(config, { store, dbPath, runId, emit: reporter, cancel, dataset: o.dataset, extraModuleDirs: o.extraModuleDirs, resume: o.resume });
    const run = await store.getRun(runId);
    if (json) {
      process.stdout.write(`${JSON.stringify({ runId, status: outcome.status, knn: 'knn' in outcome ? (outcome.knn ?? null) : null, linear: 'linear' in outcome ? (outcome.linear ?? null) : null, error: 'error' in outcome ? outcome.error : null, baselines: outcome.status === 'completed' ? (outcome.baselines ?? null) : null, backend: run?.backend ?? null, device: run?.device ?? null, configHash: run?.configHash, db: dbPath })}\n`);
    } else if (outcome.status === 'failed') {
      process.stdout.write(`run ${runId} failed: ${outcome.error}\n`);
    } else {
      const pct = (v?: number) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(2)}%`);
      const b = outcome.status === 'completed' ? outcome.baselines : undefined;
      const against = b ? `\n  same kNN protocol: raw pixels ${pct(b.rawPixels)} (mean-centred ${pct(b.rawPixelsCentred)}), untrained encoder ${pct(b.untrainedEncoder)}` : '';
      process.stdout.write(`run ${runId} ${outcome.status}: kNN accuracy ${pct(outcome.knn)} (k=${config.eval.knnK}, test split), linear probe ${pct(outcome.linear)}${against}\ndatabase: ${dbPath}\n`);
    }
    return outcome.status === 'completed' ? 0 : outcome.status === 'cancelled' ? 130 : 1;
  } finally {
    (await import('./engine/backend')).releaseBackend(); // Dawn's GPU device would keep the process alive
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`clab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
