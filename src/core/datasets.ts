/**
 * Dataset specs and class names, without file access: the config schema, the CLI and the extension
 * use these to validate and label runs without loading any data.
 *
 * A dataset spec is the `dataset` field of a run config:
 *   builtin                 the Fashion-MNIST subset shipped with Contrastive Lab
 *   mnist:DIR               the four MNIST IDX files (optionally .gz) in DIR
 *   fashion-mnist:DIR       the same for Fashion-MNIST
 *   cifar10:DIR             CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin)
 *   cifar100:DIR            CIFAR-100 binary version (train.bin, test.bin) with the 100 fine labels
 *   cifar100-coarse:DIR     the same with the 20 coarse (superclass) labels
 *   folder:DIR              an image folder (ImageFolder convention: one sub-folder per class)
 * and, for the downloadable sets, the bare name (`mnist`, `fashion-mnist`, `cifar10`, `cifar100`,
 * `cifar100-coarse`) names the copy that `clab data download` put in the dataset cache folder.
 */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
/** batches.meta.txt of the CIFAR-10 binary version, in label order. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** fine_label_names.txt of the CIFAR-100 binary version, in label order (alphabetical). */
export const CIFAR100_FINE_CLASSES = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
];
/** coarse_label_names.txt of the CIFAR-100 binary version, in label order. */
export const CIFAR100_COARSE_CLASSES = [
  'aquatic_mammals', 'fish', 'flowers', 'food_containers', 'fruit_and_vegetables',
  'household_electrical_devices', 'household_furniture', 'insects', 'large_carnivores', 'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes', 'large_omnivores_and_herbivores', 'medium_mammals', 'non-insect_invertebrates', 'people',
  'reptiles', 'small_mammals', 'trees', 'vehicles_1', 'vehicles_2',
];

/** Kinds of dataset that are read from a folder (`kind:DIR`). */
export const DATASET_KINDS = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'cifar100-coarse', 'folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];
/** Kinds that may be given without a folder: they then mean the downloaded copy in the cache folder. */
export const CACHED_KINDS = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'cifar100-coarse'] as const;

/** The `dataset` field's pattern in the run-config schema (and the JSON schema for *.clrun.json files). */
export const DATASET_SPEC_PATTERN = `^(builtin|${CACHED_KINDS.join('|')}|(${DATASET_KINDS.join('|')}):.+)$`;
export const DATASET_SPEC_HINT = 'must be `builtin`, `mnist`, `fashion-mnist`, `cifar10`, `cifar100` or `cifar100-coarse` (downloaded with `clab data download`), or KIND:DIR with KIND one of mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, folder';

/** Class names for a spec when they are fixed by the dataset; [] for image folders (their names come from the folder). */
export function classNamesFor(spec: string): string[] {
  const kind = spec.includes(':') ? spec.slice(0, spec.indexOf(':')) : spec;
  switch (kind) {
    case 'builtin':
      return spec === 'builtin' ? FASHION_MNIST_CLASSES : [];
    case 'fashion-mnist':
      return FASHION_MNIST_CLASSES;
    case 'mnist':
      return MNIST_CLASSES;
    case 'cifar10':
      return CIFAR10_CLASSES;
    case 'cifar100':
      return CIFAR100_FINE_CLASSES;
    case 'cifar100-coarse':
      return CIFAR100_COARSE_CLASSES;
    default:
      return [];
  }
}
