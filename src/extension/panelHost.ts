import type { PanelHost } from '../webviews/panels';
import { describeRun } from './runsModel';
import type { RunsNode } from './runsTree';
import type { Services } from './services';

/** The extension's side of the panels' PanelHost: the store, the run manager's events, the Runs view. */
export function panelHost(s: Services): PanelHost {
  return {
    extensionUri: s.context.extensionUri,
    store: () => s.stores.get(),
    dbPath: () => s.stores.path,
    onWorkerEvent: (listener) => s.manager.onWorkerEvent(({ run, event }) => listener({ runId: run.runId, dbPath: run.dbPath, event })),
    log: (m) => s.log.warn(m),
    defaultDataset: () => s.settings().defaultDataset,
    runChoices: async () => {
      await s.tree.refresh();
      return s.tree.all().map((v) => ({ id: v.row.id, name: v.row.name, description: describeRun(v) }));
    },
    runName: (id) => s.tree.find(id)?.row.name,
    runIdOf: (target) => {
      const node = target as RunsNode | undefined;
      return node && typeof node === 'object' && node.kind === 'run' ? node.view.row.id : undefined;
    },
  };
}
