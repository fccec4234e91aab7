import { version } from '../../package.json';

/** What a run records about the software that produced it. */
export function versions(): Record<string, string> {
  return { contrastiveLab: version, node: process.versions.node, platform: `${process.platform}-${process.arch}` };
}
