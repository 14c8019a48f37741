export * from './graph.ts';
export * from './ops/index.ts';
export { grad } from './autodiff.ts';
export { serialize, liveNodes, OPSET, type SerializedModel, type SerializeOptions } from './onnx.ts';
export { Session, RuntimeError, parseDevice, type Device, type HostArray, type SessionOptions } from './runtime.ts';
export { countFlops } from './flops.ts';
