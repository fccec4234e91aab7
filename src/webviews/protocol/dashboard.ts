import { isArrayOf, isBool, isEvalPoint, isInt, isMetricColumns, isNum, isObj, isOneOf, isRunSummary, isStr, type EvalPoint, type MetricColumns, type RunSummary } from './common';

/**
 * Run dashboard ↔ host. The host sends the run, then all recorded metrics and evaluations once
 * (`reset: true`) and afterwards only what is new (`reset: false`), so a live run's curves grow by
 * appending; the webview asks for Stop, Resume, Rerun and the other panels.
 */
export const DASHBOARD_VIEW_TYPE = 'contrastiveLab.dashboard';

/** The run actions the dashboard offers; only those that apply to the run's state are shown. */
export const RUN_ACTIONS = ['stop', 'resume', 'rerun'] as const;
export type RunAction = (typeof RUN_ACTIONS)[number];

/**
 * Stop while queued or running; Resume for a cancelled, failed or crashed run that saved a state to
 * continue from; Rerun (a new run with the same config) once it is no longer live.
 */
export function runActions(status: string, hasResumeState: boolean): RunAction[] {
  if (status === 'queued' || status === 'running') return ['stop'];
  const stopped = status === 'cancelled' || status === 'failed' || status === 'crashed';
  return stopped && hasResumeState ? ['resume', 'rerun'] : ['rerun'];
}

export type DashboardToWebview =
  | { type: 'run'; run: RunSummary; actions: RunAction[] }
  | { type: 'metrics'; reset: boolean; series: MetricColumns[] }
  | { type: 'evals'; reset: boolean; evals: EvalPoint[] }
  /** Live only (from the worker's events): throughput and progress of the current step. */
  | { type: 'progress'; step: number; totalSteps: number; viewsPerSecond: number }
  | { type: 'error'; message: string };

export type DashboardToHost = { type: 'ready' } | { type: 'stop' } | { type: 'resume' } | { type: 'rerun' } | { type: 'openEmbeddings' } | { type: 'openAugmentations' };

export const X_AXES = ['step', 'epoch', 'wall'] as const;
export type XAxis = (typeof X_AXES)[number];

/** What the webview keeps with getState/setState; the serializer reopens the panel from it. */
export interface DashboardState {
  runId: number;
  smoothing: number;
  xAxis: XAxis;
  logScale: boolean;
}

export function isDashboardState(v: unknown): v is DashboardState {
  return isObj(v) && isInt(v.runId) && v.runId > 0 && isNum(v.smoothing) && v.smoothing >= 0 && v.smoothing < 1 && isOneOf(X_AXES)(v.xAxis) && isBool(v.logScale);
}

export function isDashboardToHost(m: unknown): m is DashboardToHost {
  return isObj(m) && isOneOf(['ready', 'stop', 'resume', 'rerun', 'openEmbeddings', 'openAugmentations'] as const)(m.type) && Object.keys(m).length === 1;
}

export function isDashboardToWebview(m: unknown): m is DashboardToWebview {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'run':
      return isRunSummary(m.run) && isArrayOf(isOneOf(RUN_ACTIONS))(m.actions);
    case 'metrics':
      return isBool(m.reset) && isArrayOf(isMetricColumns)(m.series);
    case 'evals':
      return isBool(m.reset) && isArrayOf(isEvalPoint)(m.evals);
    case 'progress':
      return isInt(m.step) && isInt(m.totalSteps) && isNum(m.viewsPerSecond);
    case 'error':
      return isStr(m.message);
    default:
      return false;
  }
}
