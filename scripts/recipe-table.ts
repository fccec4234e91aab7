/**
 * Prints, per method, the values its `short` recipe sets differently from `paper` and why, as the
 * markdown of docs/methods.md's recipe tables:
 *
 *   node --import tsx scripts/recipe-table.ts [--method byol]
 */
import { parseArgs } from 'node:util';
import { recipeDifferences } from '../src/core/config';
import { METHOD_IDS, METHOD_INFO } from '../src/core/methods';

const { values } = parseArgs({ options: { method: { type: 'string' } }, strict: true });
const show = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
for (const id of values.method ? [values.method] : METHOD_IDS) {
  const info = METHOD_INFO[id];
  if (!info) {
    process.stderr.write(`recipe-table: unknown method ${id} (known: ${METHOD_IDS.join(', ')})\n`);
    process.exit(2);
  }
  const rows = recipeDifferences(id).map((d) => `| \`${d.path}\` | ${show(d.paper)} | ${show(d.short)} |`);
  process.stdout.write(`### ${info.label} (\`${id}\`): what \`short\` changes\n\n| key | paper | short |\n|---|---|---|\n${rows.join('\n')}\n\n${info.short.why.map((w) => `- ${w}`).join('\n')}\n\n`);
}
