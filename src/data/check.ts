/**
 * The check a dataset passes before a run is recorded (`clab train`, New Run…, a config file run):
 * a typo in a folder name or a truncated download should be an error message, not a failed run row.
 *
 * It checks what can go wrong without decoding images: the folder, the files a kind needs, IDX headers
 * and sizes, image and label counts, label ranges, CIFAR record sizes, an image folder's layout (class
 * folders, enough images for a test split). Reading and gunzipping happen off the event loop, so the
 * extension host stays responsive; an image that cannot be decoded is still found when the run loads it.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { classNamesFor } from '../core/datasets';
import { cifarLayout, cifarRecordCount, resolveCifarDir, type CifarVariant } from './cifar';
import { checkSameImageSize, findIdxFile, IDX_FILES, idxSplit, resolveDatasetDir, type LoadOptions } from './datasets';
import { scanFolder } from './folder';
import { DatasetError, readIdxImagesAsync, readIdxLabelsAsync } from './idx';

export interface DatasetCheck {
  /** The folder the spec resolved to. */
  dir: string;
  train: number;
  test: number;
  /** 0 for an unlabeled image folder. */
  classes: number;
}

/** Resolves `spec` and checks its files; throws a DatasetError naming the file and the problem. */
export async function checkDataset(spec: string, opts: Pick<LoadOptions, 'builtinDir' | 'cacheDir'> = {}): Promise<DatasetCheck> {
  const { parsed, dir, label } = resolveDatasetDir(spec, opts);
  switch (parsed.kind) {
    case 'folder': {
      const scan = scanFolder(label, dir);
      return { dir, train: scan.train.length, test: scan.test.length, classes: scan.classNames.length };
    }
    case 'cifar10':
    case 'cifar100':
    case 'cifar100-coarse': {
      const variant: CifarVariant = parsed.kind;
      const d = resolveCifarDir(label, variant, dir);
      const layout = cifarLayout(variant);
      const count = async (files: readonly string[]) => {
        let n = 0;
        for (const f of files) n += cifarRecordCount(join(d, f), (await stat(join(d, f))).size, variant);
        return n;
      };
      return { dir: d, train: await count(layout.train), test: await count(layout.test), classes: classNamesFor(parsed.kind).length };
    }
    default: {
      const classes = classNamesFor(parsed.kind === 'builtin' ? 'builtin' : parsed.kind).length;
      const split = async (imagesBase: string, labelsBase: string) => {
        const imagesPath = findIdxFile(label, dir, imagesBase);
        const labelsPath = findIdxFile(label, dir, labelsBase);
        const [images, labels] = await Promise.all([readIdxImagesAsync(imagesPath), readIdxLabelsAsync(labelsPath)]);
        return idxSplit(label, { path: imagesPath, images }, { path: labelsPath, labels }, classes);
      };
      const train = await split(IDX_FILES.trainImages, IDX_FILES.trainLabels);
      const test = await split(IDX_FILES.testImages, IDX_FILES.testLabels);
      checkSameImageSize(label, train, test);
      if (train.count < 2) throw new DatasetError(`${label}: ${findIdxFile(label, dir, IDX_FILES.trainImages)} holds ${train.count} image(s); at least 2 are needed to train`);
      return { dir, train: train.count, test: test.count, classes };
    }
  }
}
