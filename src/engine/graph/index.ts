export * from './graph.ts';
export * from './ops/index.ts';
export { grad } from './autodiff.ts';
export { serialize, liveNodes, emittedNodes, onSerialize, OPSET, type EmittedNode, type SerializedModel, type SerializeOptions } from './onnx.ts';
export { Session, RuntimeError, memoryOptions, onRuntimeWarning, parseDevice, sessionOptions, type Device, type HostArray, type MemoryMode, type SessionOptions } from './runtime.ts';
export { countFlops } from './flops.ts';
export { asinPoly } from './asin.ts';
