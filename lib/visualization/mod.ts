/**
 * Looking inside a trained classifier (cs231n `net_visualization_pytorch.py`): saliency
 * maps, fooling images and class visualization, on any `Module` that maps images
 * `(N, C, H, W)` to class scores `(N, K)`.
 *
 * @module
 */

export { computeSaliencyMaps } from "./saliency.ts";
export { type FoolingOptions, type FoolingResult, makeFoolingImage } from "./fooling.ts";
export {
  type ClassVisualizationOptions,
  classVisualizationUpdateStep,
  createClassVisualization,
} from "./class_visualization.ts";
export { blurImage, gaussianKernel, jitter } from "./image_ops.ts";
