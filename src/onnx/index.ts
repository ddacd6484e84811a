/** ONNX protobuf tooling: decode/encode, graph slicing and composition, Linear and ViT graph builders. */
export {
  onnx,
  type Model,
  type TensorInfo,
  type TensorDtype,
  float32Tensor,
  tensorToFloat32,
  toNumber,
} from './proto.js';
export { decodeModel, encodeModel, readModel, writeModel } from './io.js';
export { graphInputs, graphOutputs } from './graph.js';
export { extractSubgraph, type ExtractOptions } from './extract.js';
export { composeModels, type ComposeOptions } from './compose.js';
export { linearModel, type LinearModelOptions } from './linear.js';
export {
  type VitConfig,
  type VitWeights,
  type WeightTensor,
  type StitchSpec,
  type RouteSegment,
  DEIT_TI,
  DEIT_S,
  DEIT_B,
  VIT_OPSET,
  randomVitWeights,
  buildVitModel,
  buildRouteModel,
  vitBoundaries,
} from './vit.js';
export {
  EXTERNAL_DATA_MIN_TENSOR_BYTES,
  type ExternalRef,
  allTensors,
  externalRefs,
  initializerBytes,
  inlineExternalData,
  splitExternalData,
} from './external.js';
