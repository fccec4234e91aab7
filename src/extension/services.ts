import type * as vscode from 'vscode';
import type { LiveUi } from './liveUi';
import type { RunManager } from '../queue/runManager';
import type { RunsTreeProvider } from './runsTree';
import type { Settings } from './settings';
import type { StoreHolder } from './storeHolder';

/** What the command handlers share, created once in activate(). */
export interface Services {
  context: vscode.ExtensionContext;
  settings(): Settings;
  manager: RunManager;
  stores: StoreHolder;
  tree: RunsTreeProvider;
  live: LiveUi;
  /** The extension's own log ("Contrastive Lab"): problems, npm output, exports. */
  log: vscode.LogOutputChannel;
  /** Where Enable GPU Training installs the native backends (passed to workers as extraModuleDirs). */
  nativeDir: string;
}
