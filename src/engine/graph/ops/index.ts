export * from './elementwise.ts';
export * from './shape.ts';
export * from './linalg.ts';
export * from './reduce.ts';
export * from './conv.ts';
export * from './norm.ts';
export * from './special.ts';
export { broadcastShapes, unbroadcast } from './broadcast.ts';
export { opDef, defineOp, type OpDef, type Emitter, type VjpArgs } from './registry.ts';
