import { describeResumePoint } from '../store/resume';
import { packRun, PackError, unpackRun, type PackSelection } from '../store/pack';
import type { RunStore } from '../store/store';

export const PACK_USAGE = `  pack <id> [--out FILE] [--embeddings all|last|none] [--checkpoints all|last|none]
                                            the run in one file (default run-<id>.clabrun): config, metrics,
                                            evaluations, embeddings, checkpoints and the state it resumes from
  unpack <FILE>                             add a packed run to this database under a new id (then \`resume\`
                                            continues it, the panels compare it)`;

const SELECTIONS: readonly PackSelection[] = ['all', 'last', 'none'];

function selection(flag: string, v: string | undefined): PackSelection {
  if (v === undefined) return 'all';
  if ((SELECTIONS as readonly string[]).includes(v)) return v as PackSelection;
  throw new PackError(`--${flag} is all, last or none; got '${v}'`);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function packCommand(store: RunStore, dbPath: string, id: number, values: { out?: string; embeddings?: string; checkpoints?: string; json?: boolean }): Promise<number> {
  try {
    const s = await packRun(store, dbPath, id, values.out ?? `run-${id}.clabrun`, {
      embeddings: selection('embeddings', values.embeddings),
      checkpoints: selection('checkpoints', values.checkpoints),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(s)}\n`);
    else {
      const resume = s.resume ? `resumes ${describeResumePoint(s.resume)}` : 'no resume state';
      process.stdout.write(`run ${id} packed into ${s.file} (${mb(s.bytes)}): ${s.metrics} metric points, ${s.evals} evaluations, ${s.embeddings} embeddings, ${s.checkpoints} checkpoints; ${resume}\n`);
      for (const p of s.skipped) process.stdout.write(`  left out ${p}: not in the run's folder, or gone\n`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof PackError)) throw e;
    process.stderr.write(`clab pack: ${e.message}\n`);
    return 2;
  }
}

export async function unpackCommand(store: RunStore, dbPath: string, file: string, json: boolean): Promise<number> {
  try {
    const r = await unpackRun(store, dbPath, file);
    if (json) process.stdout.write(`${JSON.stringify({ ...r, db: dbPath })}\n`);
    else {
      const resume = r.resume ? `; \`clab resume ${r.runId}\` continues it ${describeResumePoint(r.resume)}` : '';
      process.stdout.write(`${file} added as run ${r.runId} (run ${r.from.runId} of ${r.from.database} on ${r.from.host}), ${r.embeddings} embeddings, ${r.checkpoints} checkpoints${resume}\ndatabase: ${dbPath}\n`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof PackError)) throw e;
    process.stderr.write(`clab unpack: ${e.message}\n`);
    return 2;
  }
}
