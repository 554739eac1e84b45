/**
 * The shape shared by the raw data set loaders (Fashion-MNIST, CIFAR-10).
 *
 * @module
 */

/**
 * A labelled image data set as stored on disk: pixels as bytes 0..255, not yet converted to
 * floats (that is {@link https://cs231n.github.io | cs231n}'s `get_CIFAR10_data` step, done
 * by `getData` in `preprocess.ts`).
 */
export interface RawImageDataset {
  /** Training images, `N * C * H * W` bytes, each image channel-major (C, H, W). */
  xTrain: Uint8Array;
  /** Training labels in `0 .. classNames.length - 1`. */
  yTrain: Int32Array;
  /** Test images, laid out like `xTrain`. */
  xTest: Uint8Array;
  /** Test labels. */
  yTest: Int32Array;
  /** Shape of one image, `[channels, height, width]`. */
  imageShape: [number, number, number];
  /** Class names, indexed by label. */
  classNames: readonly string[];
  /** The directory the files were read from. */
  dir: string;
  /** Whether this is the small subset committed to the repository instead of the full set. */
  isMini: boolean;
}
