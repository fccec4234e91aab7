import { DEFAULT_IMAGE_SIZE, resolveConfig } from '../../core/config';
import { classNamesFor } from '../../core/datasets';
import { METHOD_INFO } from '../../core/methods';
import type { AugmentClient } from '../augment/client';
import { isAugmentToHost, isViewParams, type AugmentToWebview, type ViewParams } from '../protocol/augment';
import { errorText, type Controller, type PanelDeps } from './types';

/** The pipeline shown when no run is given: SimCLR's, the method New Run proposes first. */
export function defaultViewParams(method = 'simclr'): ViewParams {
  const views = (METHOD_INFO[method] ?? METHOD_INFO.simclr).views;
  return { view1: { ...views[0] }, view2: { ...views[1] } };
}

/**
 * The augmentation preview's host side: the run's own pipeline (or the defaults) and dataset, and
 * renders from the augmentation worker thread. Renders are coalesced by the client, so dragging a
 * slider never queues more than one.
 */
export class AugmentController implements Controller {
  private dataset: string;
  /** The run's imageSize (folder datasets are resized to it); the default config's without a run. */
  private imageSize = DEFAULT_IMAGE_SIZE;
  private disposed = false;

  constructor(
    readonly runId: number | null,
    private readonly deps: PanelDeps,
    private readonly augment: AugmentClient,
    dataset = 'builtin',
  ) {
    this.dataset = dataset;
  }

  private post(m: AugmentToWebview): void {
    if (!this.disposed) this.deps.post(m);
  }

  handle(message: unknown): void {
    if (!isAugmentToHost(message)) {
      this.deps.log?.(`augmentations: ignored an invalid message from the webview: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    if (message.type === 'ready') {
      void this.init().catch((e: unknown) => this.post({ type: 'error', message: errorText(e) }));
      return;
    }
    const { requestId, params, seed, perImage, count } = message;
    this.augment.render({ dataset: this.dataset, imageSize: this.imageSize, params, seed, perImage, count }).then(
      (r) => {
        if (r) this.post({ type: 'samples', requestId, seed, perImage, originals: r.originals, views: r.views, milliseconds: r.milliseconds });
      },
      (e: unknown) => this.post({ type: 'error', requestId, message: errorText(e) }),
    );
  }

  private async init(): Promise<void> {
    let runParams: ViewParams | null = null;
    let runName: string | null = null;
    if (this.runId !== null) {
      const store = await this.deps.store();
      const run = await store.getRun(this.runId);
      if (!run) throw new Error(`Run ${this.runId} is not in ${store.path}.`);
      runName = run.name;
      this.deps.title?.(`Augmentations: ${run.name}`);
      this.dataset = run.dataset;
      this.imageSize = run.config.imageSize ?? DEFAULT_IMAGE_SIZE;
      // Resolved as a resume resolves it: a run recorded before a field existed gets its legacy value.
      const augment = resolveConfig(run.config).config?.augment ?? run.config.augment;
      const p = { view1: augment.view1, view2: augment.view2 };
      runParams = isViewParams(p) ? p : null;
      if (!runParams) this.deps.log?.(`augmentations: run ${this.runId}'s recorded pipeline is not valid in this version; showing the defaults`);
    }
    this.post({ type: 'init', runId: this.runId, runName, dataset: this.dataset, classNames: classNamesFor(this.dataset), runParams, params: runParams ?? defaultViewParams() });
  }

  dispose(): void {
    this.disposed = true;
  }
}
