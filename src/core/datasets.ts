/** Class names by dataset spec, for labels in exports and views (no file access). */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export function classNamesFor(spec: string): string[] {
  if (spec === 'builtin' || spec.startsWith('fashion-mnist:')) return FASHION_MNIST_CLASSES;
  if (spec.startsWith('mnist:')) return MNIST_CLASSES;
  return [];
}
