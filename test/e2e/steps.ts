import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

/**
 * Steps of a scenario, each with a time limit and a screenshot of what the UI showed at its end
 * (`NN-step.png`, or `NN-step-FAILED.png`). A step that needs an earlier one that did not pass is not run;
 * a step can skip itself with a reason (`skip(...)`), e.g. when the installed extension lacks a command.
 */

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'not run';

export interface StepResult {
  scenario: string;
  name: string;
  title: string;
  status: StepStatus;
  seconds: number;
  detail: string;
  screenshot?: string;
}

export class Skip extends Error {}
export function skip(reason: string): never {
  throw new Skip(reason);
}

export class Steps {
  readonly results: StepResult[] = [];
  private n = 0;
  private current = '';

  constructor(
    private readonly outDir: string,
    private readonly log: (m: string) => void,
    private readonly onFailure: (name: string) => Promise<void>,
    /** Only these steps (by name) run, for working on one step; the others are reported as skipped. */
    private readonly only?: Set<string>,
  ) {}

  /** Runs one step; returns whether it passed. `fn` may return a line describing what it saw. */
  async step(
    scenario: { name: string; page?: () => Page | undefined },
    name: string,
    title: string,
    fn: () => Promise<string | void>,
    opts: { timeoutMs: number; needs?: string[] },
  ): Promise<boolean> {
    const index = String(++this.n).padStart(2, '0');
    const base = `${index}-${scenario.name}-${name}`;
    const blocked = (opts.needs ?? []).map((n) => this.results.find((r) => r.scenario === scenario.name && r.name === n)).find((r) => !r || r.status !== 'passed');
    if (opts.needs?.length && blocked !== undefined) {
      const why = blocked ? `needs “${blocked.title}”, which ${blocked.status === 'not run' ? 'was not run' : blocked.status}` : 'needs a step that was not run';
      this.record({ scenario: scenario.name, name, title, status: 'not run', seconds: 0, detail: why });
      return false;
    }
    if (this.only && !this.only.has(name)) {
      this.record({ scenario: scenario.name, name, title, status: 'skipped', seconds: 0, detail: 'not selected (--steps)' });
      return false;
    }
    this.log(`▶ ${scenario.name}: ${title}`);
    this.current = base;
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`step did not finish within ${Math.round(opts.timeoutMs / 1000)} s`)), opts.timeoutMs);
    });
    let status: StepStatus = 'passed';
    let detail = '';
    try {
      detail = (await Promise.race([fn(), limit])) ?? '';
    } catch (e) {
      status = e instanceof Skip ? 'skipped' : 'failed';
      detail = e instanceof Error ? e.message : String(e);
    } finally {
      clearTimeout(timer);
    }
    const seconds = (Date.now() - t0) / 1000;
    let screenshot: string | undefined;
    const page = scenario.page?.();
    if (page && status !== 'skipped') {
      screenshot = `${base}${status === 'failed' ? '-FAILED' : ''}.png`;
      await page.screenshot({ path: join(this.outDir, screenshot), timeout: 20_000 }).catch(() => (screenshot = undefined));
    }
    this.record({ scenario: scenario.name, name, title, status, seconds, detail, screenshot });
    if (status === 'failed') await this.onFailure(base).catch(() => undefined);
    return status === 'passed';
  }

  /** An extra screenshot during the current step (`NN-step-label.png`). */
  async shot(page: Page, label: string): Promise<void> {
    await page.screenshot({ path: join(this.outDir, `${this.current}-${label}.png`), timeout: 20_000 }).catch(() => undefined);
  }

  record(r: StepResult): void {
    this.results.push(r);
    const mark = { passed: '✔', failed: '✘', skipped: '⤼', 'not run': '·' }[r.status];
    this.log(`${mark} ${r.scenario}: ${r.title} — ${r.status}${r.seconds ? ` (${r.seconds.toFixed(1)} s)` : ''}${r.detail ? `\n    ${r.detail.split('\n').join('\n    ')}` : ''}`);
  }

  get failed(): boolean {
    return this.results.some((r) => r.status === 'failed');
  }

  /** report.json and report.md beside the screenshots. */
  write(extra: Record<string, unknown>): void {
    writeFileSync(join(this.outDir, 'report.json'), JSON.stringify({ ...extra, steps: this.results }, null, 2));
    const lines = [
      '# Contrastive Lab end-to-end run',
      '',
      ...Object.entries(extra).map(([k, v]) => `- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`),
      '',
      '| # | scenario | step | result | s | screenshot | detail |',
      '|---|---|---|---|---|---|---|',
      ...this.results.map((r, i) => `| ${i + 1} | ${r.scenario} | ${r.title} | ${r.status} | ${r.seconds.toFixed(1)} | ${r.screenshot ? `[png](${r.screenshot})` : ''} | ${r.detail.replace(/\|/g, '\\|').replace(/\n/g, '<br>')} |`),
      '',
    ];
    writeFileSync(join(this.outDir, 'report.md'), lines.join('\n'));
  }
}
