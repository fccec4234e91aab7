import { writeFileSync } from 'node:fs';
import Mocha from 'mocha';
import { defineTests, type Bdd } from './suite';

/**
 * The extensionTestsPath module: VS Code's extension host loads it and awaits run(); a rejection is a
 * failed run. mocha is resolved from the repository's node_modules (this bundle lives under the clone).
 * Each test's result also goes to the file CLAB_EXTHOST_RESULTS names, since the extension host's stdout
 * is not the runner's.
 */
export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 15 * 60_000, color: false, reporter: 'spec' });
  const bdd = {} as Bdd;
  mocha.suite.emit('pre-require', bdd, 'exthost-suite', mocha);
  defineTests(bdd);
  const results: { title: string; status: string; ms?: number; error?: string }[] = [];
  const save = () => process.env.CLAB_EXTHOST_RESULTS && writeFileSync(process.env.CLAB_EXTHOST_RESULTS, JSON.stringify(results, null, 2));
  return new Promise((resolve, reject) => {
    mocha
      .run((failures) => {
        save();
        if (failures) reject(new Error(`${failures} extension-host test(s) failed`));
        else resolve();
      })
      .on('pass', (t) => results.push({ title: t.fullTitle(), status: 'passed', ms: t.duration }))
      .on('fail', (t, err) => results.push({ title: t.fullTitle(), status: 'failed', error: err?.stack ?? err?.message }))
      .on('pending', (t) => results.push({ title: t.fullTitle(), status: 'skipped' }));
  });
}
