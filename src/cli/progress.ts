import type { WorkerEvent } from '../core/events';

/**
 * Terminal progress for `clab train`: a step line rewritten in place (on a TTY) and one line per epoch.
 * Debug lines (the backend probing) only with `verbose`.
 */
export function consoleReporter(out: NodeJS.WriteStream, o: { verbose?: boolean } = {}): (e: WorkerEvent) => void {
  const tty = out.isTTY === true;
  let stepsPerEpoch = 0;
  let lastLine = 0;
  return (e) => {
    switch (e.type) {
      case 'started':
        stepsPerEpoch = e.stepsPerEpoch;
        // The worker's next log line names the method, dataset, sizes and backend: no need to repeat them.
        out.write(`run ${e.runId} started: ${e.totalSteps} steps in all\n`);
        break;
      case 'step': {
        const now = Date.now();
        const inEpoch = stepsPerEpoch ? (e.step % stepsPerEpoch) + 1 : e.step + 1;
        const line = `epoch ${e.epoch} step ${inEpoch}/${stepsPerEpoch} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${Math.round(e.viewsPerSecond)} views/s`;
        if (tty) out.write(`\r${line}\x1b[K`);
        else if (now - lastLine > 10_000) {
          out.write(`${line}\n`);
          lastLine = now;
        }
        break;
      }
      case 'epoch':
        out.write(`${tty ? '\r\x1b[K' : ''}epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)} in ${e.seconds.toFixed(1)} s\n`);
        break;
      case 'log':
        if (e.level === 'debug' && !o.verbose) break;
        out.write(`${tty ? '\r\x1b[K' : ''}${e.level === 'info' ? '' : `${e.level}: `}${e.message}\n`);
        break;
      case 'checkpoint':
        out.write(`checkpoint: ${e.path}\n`);
        break;
      case 'failed':
        out.write(`${tty ? '\r\x1b[K' : ''}error: ${e.error}\n`);
        break;
      default:
        break;
    }
  };
}
