import { RunStore } from '../store/store';

/**
 * The extension's connection to the run database named by the settings. Reopened when the setting
 * changes; after an open failure (a newer schema, another app's file) the next call tries again.
 */
export class StoreHolder {
  private current?: { path: string; store: Promise<RunStore> };

  constructor(private readonly dbPath: () => string) {}

  get path(): string {
    return this.dbPath();
  }

  async get(): Promise<RunStore> {
    const path = this.dbPath();
    if (this.current?.path !== path) {
      const old = this.current;
      const store = RunStore.open(path);
      this.current = { path, store };
      store.catch(() => {
        // Try again at the next call: the user may fix the file or the setting.
        if (this.current?.store === store) this.current = undefined;
      });
      if (old) void old.store.then((s) => s.close()).catch(() => undefined);
    }
    return this.current!.store;
  }

  async dispose(): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    if (cur) await cur.store.then((s) => s.close()).catch(() => undefined);
  }
}
