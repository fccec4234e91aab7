import { loadDataset, type Dataset, type Split } from '../../src/data/datasets';

/** The built-in set cut down to `train` training and `test` test images, so training and evaluation take no time. */
export function smallBuiltin(train = 512, test = 64): Dataset {
  const full = loadDataset('builtin');
  const cut = (s: Split, count: number): Split => ({ ...s, count, images: s.images.subarray(0, count * s.height * s.width * s.channels), labels: s.labels.subarray(0, count) });
  return { ...full, train: cut(full.train, train), test: cut(full.test, test) };
}
