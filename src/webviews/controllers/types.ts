import type { WorkerEvent } from '../../core/events';
import type { RunStore } from '../../store/store';

export interface Disposable {
  dispose(): unknown;
}

/** What a panel's controller needs from the extension; tests give it a real store and a fake webview. */
export interface PanelDeps {
  store(): Promise<RunStore>;
  /** Sends a message to the webview. */
  post(message: unknown): void;
  /** Events of runs this window's run manager owns, for low-latency live updates. */
  onWorkerEvent?(listener: (e: { runId: number; dbPath: string; event: WorkerEvent }) => void): Disposable;
  /** The database the store holds (to match worker events to it). */
  dbPath(): string;
  /** Sets the panel's tab title (a run's name is known only once the store is read, and can be renamed). */
  title?(title: string): void;
  /** Problems worth a line in the extension's log. */
  log?(message: string): void;
}

/** A panel's host-side logic: messages in from the webview, out through `post`. No vscode import. */
export interface Controller extends Disposable {
  /** An unvalidated message from the webview. */
  handle(message: unknown): void;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
