/**
 * A minimal typed event emitter with VS Code's shape (`event(listener) → { dispose }`), so the host logic
 * (run manager, tree model) can be used and tested without the `vscode` module.
 */
export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (e: T) => void) => Disposable;

export class Emitter<T> implements Disposable {
  private readonly listeners = new Set<(e: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(e: T): void {
    // A throwing listener must not keep the others (or the run manager) from seeing the event.
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        console.error('Contrastive Lab: event listener failed', err);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
