/**
 * A from-scratch deep-learning library that reproduces Stanford cs231n assignments 1 and
 * 2 in TypeScript: tensors, layers with their gradients, losses, update rules, the Solver,
 * models, data loaders and pictures. Standard library only; importing it needs no
 * permission and reads no file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng, Solver, Tensor, TwoLayerNet } from "./mod.ts";
 *
 * // Two well-separated blobs in 2-d; a tiny net learns them in a few epochs.
 * const rng = new Rng(0);
 * const X = Tensor.randn([200, 2], rng);
 * const y = Int32Array.from({ length: 200 }, (_, i) => i % 2);
 * for (let i = 0; i < 200; i++) X.data[2 * i] += y[i] === 1 ? 4 : -4;
 * const model = new TwoLayerNet({ inputDim: 2, hiddenDim: 10, weightScale: 0.1, rng });
 * const solver = new Solver(model, { XTrain: X, yTrain: y, XVal: X, yVal: y }, {
 *   updateRule: "adam", optimConfig: { learningRate: 1e-2 }, numEpochs: 5, batchSize: 20,
 *   verbose: false,
 * });
 * solver.train();
 * assert.ok(solver.bestValAcc > 0.95);
 * ```
 *
 * @module
 */

// Tensors, random numbers, storage.
export { type FloatArray, type Nested, Tensor } from "./lib/tensor.ts";
export { type ChoiceOptions, getGlobalRng, Rng, setSeed } from "./lib/rng.ts";
export { type DType, isSharedStorage, setSharedStorage } from "./lib/storage.ts";
export {
  type BufferPoolStats,
  bufferPoolStats,
  clearBufferPool,
  POOL_LIMIT_BYTES,
  setBufferPoolLimit,
} from "./lib/buffer_pool.ts";

// Kernels and the worker pool.
export {
  gemm,
  type GemmInstance,
  type GemmKernelChoice,
  type GemmKernelInfo,
  gemmKernelInfo,
  setGemmKernel,
} from "./lib/kernels/gemm.ts";
export {
  type ConvAlgorithm,
  convAlgorithmFor,
  type ConvGeometry,
  type ConvPass,
  getConvAlgorithm,
  setConvAlgorithm,
} from "./lib/kernels/conv.ts";
export { gemmParallel } from "./lib/kernels/gemm_parallel.ts";
export type { WindowGeometry } from "./lib/kernels/im2col.ts";
export { gemmParallelInPlace, sharedGemmInstance } from "./lib/kernels/gemm_parallel_in_place.ts";
export { type WasmFeatures, wasmFeatures } from "./lib/kernels/wasm/features.ts";
export {
  defaultNumThreads,
  getNumThreads,
  getPool,
  setNumThreads,
  WorkerPool,
  type WorkerPoolOptions,
} from "./lib/parallel/worker_pool.ts";
export { type Job, registerJob, registerWorkerModule } from "./lib/parallel/jobs.ts";

// Layers and losses.
export { affineBackward, type AffineCache, affineForward } from "./lib/layers/affine.ts";
export { reluBackward, type ReluCache, reluForward } from "./lib/layers/relu.ts";
export {
  affineReluBackward,
  type AffineReluCache,
  affineReluForward,
} from "./lib/layers/affine_relu.ts";
export { softmaxLoss, svmLoss } from "./lib/layers/losses.ts";
export {
  convBackwardNaive,
  type ConvCache,
  convForwardNaive,
  type ConvParam,
} from "./lib/layers/conv.ts";
export { convBackwardFast, convForwardFast, convParamGradsFast } from "./lib/layers/conv_fast.ts";
export {
  convTransposeBackward,
  type ConvTransposeCache,
  convTransposeForward,
  type ConvTransposeParam,
} from "./lib/layers/conv_transpose.ts";
export {
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackwardFast,
  maxPoolBackwardNaive,
  type MaxPoolFastCache,
  type MaxPoolFastOptions,
  maxPoolForwardFast,
  maxPoolForwardNaive,
  type PoolCache,
  type PoolParam,
} from "./lib/layers/pool.ts";
export {
  convBnReluBackward,
  type ConvBnReluCache,
  convBnReluForward,
  convReluBackward,
  type ConvReluCache,
  convReluForward,
  convReluPoolBackward,
  type ConvReluPoolCache,
  convReluPoolForward,
} from "./lib/layers/conv_sandwich.ts";
export {
  batchnormBackward,
  batchnormBackwardAlt,
  type BatchnormCache,
  batchnormForward,
  type BatchnormParam,
  type BatchnormTestCache,
  type BatchnormTrainCache,
  type ChannelLayout,
} from "./lib/layers/batchnorm.ts";
export {
  layernormBackward,
  type LayernormCache,
  layernormForward,
  type LayernormParam,
} from "./lib/layers/layernorm.ts";
export {
  dropoutBackward,
  type DropoutCache,
  dropoutForward,
  type DropoutParam,
} from "./lib/layers/dropout.ts";
export {
  spatialBatchnormBackward,
  spatialBatchnormForward,
} from "./lib/layers/spatial_batchnorm.ts";
export {
  type GroupnormCache,
  type GroupnormParam,
  spatialGroupnormBackward,
  spatialGroupnormForward,
} from "./lib/layers/spatial_groupnorm.ts";
export {
  affineBatchnormReluBackward,
  type AffineBatchnormReluCache,
  affineBatchnormReluForward,
  affineLayernormReluBackward,
  type AffineLayernormReluCache,
  affineLayernormReluForward,
} from "./lib/layers/affine_norm_relu.ts";

// Gradient checking.
export {
  evalNumericalGradient,
  evalNumericalGradientArray,
  gradCheckSparse,
  type NumericalGradientArrayOptions,
  type NumericalGradientOptions,
  relError,
} from "./lib/gradient_check.ts";

// Update rules, Solver, checkpoints, progress output.
export {
  adam,
  getUpdateRule,
  type OptimConfig,
  rmsprop,
  sgd,
  sgdMomentum,
  UPDATE_RULES,
  type UpdateRule,
  type UpdateRuleName,
} from "./lib/optim.ts";
export {
  type EpochInfo,
  loadCheckpoint,
  Solver,
  type SolverData,
  type SolverModel,
  type SolverOptions,
} from "./lib/solver.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type LoadedParams,
  loadParams,
  type SafetensorsContents,
  saveParams,
} from "./lib/io/safetensors.ts";
export {
  formatDuration,
  type IterationStatus,
  type ProgressOptions,
  ProgressPrinter,
} from "./lib/progress.ts";

// Models.
export type { Grads, LossAndGrads, Model, Params, TrainableModel } from "./lib/models/model.ts";
export { TwoLayerNet, type TwoLayerNetOptions } from "./lib/models/two_layer_net.ts";
export { ThreeLayerConvNet, type ThreeLayerConvNetOptions } from "./lib/models/cnn.ts";
export {
  FullyConnectedNet,
  type FullyConnectedNetOptions,
  type Normalization,
} from "./lib/models/fc_net.ts";

// Autograd and the module API.
export { isGradEnabled, noGrad, setGradEnabled } from "./lib/autograd/grad_mode.ts";
export { type BackwardFn, GradNode, needsGrad, record } from "./lib/autograd/engine.ts";
export { type BackwardOptions, sumToShape, type TensorOptions } from "./lib/tensor.ts";
export * as nn from "./lib/nn/mod.ts";
export * as F from "./lib/nn/functional.ts";
export * as optim from "./lib/nn/optim/mod.ts";
export { type LoadStateDictResult, Module, type ModuleOptions } from "./lib/nn/module.ts";
export { Parameter } from "./lib/nn/parameter.ts";
export { DataLoader, type DataLoaderOptions } from "./lib/data/data_loader.ts";
export {
  compose,
  randomCrop,
  randomHorizontalFlip,
  type Transform,
} from "./lib/data/transforms.ts";

// Network visualization.
export {
  blurImage,
  type ClassVisualizationOptions,
  classVisualizationUpdateStep,
  computeSaliencyMaps,
  createClassVisualization,
  type FoolingOptions,
  type FoolingResult,
  gaussianKernel,
  jitter,
  makeFoolingImage,
} from "./lib/visualization/mod.ts";

// Assignment 1: classifiers and image features.
export { KNearestNeighbor, type KnnPredictOptions } from "./lib/classifiers/knn.ts";
export {
  arraySplitRanges,
  type FoldSplit,
  type KFoldOptions,
  kFoldSplits,
} from "./lib/classifiers/cross_validation.ts";
export { svmLossNaive, svmLossVectorized } from "./lib/classifiers/linear_svm.ts";
export { softmaxLossNaive, softmaxLossVectorized } from "./lib/classifiers/softmax.ts";
export {
  LinearClassifier,
  LinearSVM,
  type LinearTrainOptions,
  Softmax,
} from "./lib/classifiers/linear_classifier.ts";
export { hogFeature, type HogOptions, rgb2gray } from "./lib/features/hog.ts";
export {
  colorHistogramHsv,
  type HistogramOptions,
  intensityHistogram,
} from "./lib/features/histogram.ts";
export {
  extractFeatures,
  type ExtractFeaturesOptions,
  type FeatureFn,
} from "./lib/features/extract.ts";

// Data.
export type { RawImageDataset } from "./lib/data/dataset.ts";
export { encodeIdx, type IdxArray, parseIdx, readIdxFile } from "./lib/data/idx.ts";
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  FASHION_MNIST_SYSTEM_DIR,
  type FashionMnistLocation,
  type FashionMnistOptions,
  findFashionMnist,
  loadFashionMnist,
} from "./lib/data/fashion_mnist.ts";
export { CIFAR10_CLASSES, loadCifar10 } from "./lib/data/cifar10.ts";
export {
  type DatasetName,
  type DataSplits,
  getData,
  type GetDataOptions,
} from "./lib/data/preprocess.ts";

// Pictures.
export {
  crc32,
  decodePng,
  encodePng,
  type EncodePngOptions,
  type PngFilter,
  type RasterImage,
  readPng,
  writePng,
} from "./lib/vis/png.ts";
export { toImage, upscale, visualizeGrid, type VisualizeGridOptions } from "./lib/vis/grid.ts";
export {
  figure,
  type FigureOptions,
  linePlot,
  type LinePlotOptions,
  type PlotSeries,
  writeSvg,
} from "./lib/vis/plot.ts";
