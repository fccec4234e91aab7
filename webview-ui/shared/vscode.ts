/**
 * The webview's side of the VS Code API: typed, validated messages and persisted state. In the test
 * harness `acquireVsCodeApi` is a stub that records posts and holds state, fed through the same
 * `message` events VS Code uses.
 */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

export function post<T>(message: T): void {
  api.postMessage(message);
}

/** The saved state if it is valid for this panel (an old or foreign one is ignored). */
export function loadState<S>(isState: (v: unknown) => v is S): S | undefined {
  const s = api.getState();
  return isState(s) ? s : undefined;
}

export function saveState<S>(state: S): void {
  api.setState(state);
}

/** Delivers host messages that pass the panel's guard; anything else is reported and dropped. */
export function onMessage<T>(guard: (m: unknown) => m is T, handler: (m: T) => void): void {
  window.addEventListener('message', (e: MessageEvent) => {
    if (guard(e.data)) handler(e.data);
    else console.warn('Contrastive Lab: ignored an invalid message from the extension', e.data);
  });
}
