/**
 * Every op the graph builder knows, by the file that defines it. A node's `op`, `defineOp` and
 * `Graph.addNode` take an OpName, so a misspelt op fails to compile rather than at serialisation.
 */
export const OP_NAMES = [
  // movement.ts
  'Reshape', 'Transpose', 'DepthToSpace', 'SpaceToDepth', 'Cast',
  // broadcast.ts
  'Expand', 'ReduceSum',
  // concat.ts
  'Concat', 'Split',
  // elementwise.ts
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min',
  'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not',
  'Neg', 'Sqrt', 'Exp', 'Log', 'Abs', 'Sign', 'Floor', 'Sigmoid', 'Tanh', 'Asin', 'Erf', 'Relu', 'Reciprocal', 'Identity',
  'Where', 'SiLU',
  // reduce.ts
  'ReduceMean', 'ReduceMax', 'Softmax', 'ArgMin', 'ArgMax',
  // scan.ts
  'CumSum', 'TopK',
  // indexing.ts
  'Slice', 'Pad', 'Gather', 'ScatterND', 'GatherElements', 'ScatterElements', 'Compress',
  // linalg.ts
  'MatMul', 'FusedMatMul', 'Gemm',
  // resize.ts
  'Resize',
  // conv.ts
  'Conv', 'ConvTranspose', 'MaxPool', 'AveragePool',
  // norm.ts
  'LayerNormalization', 'StandardizeRows', 'AffineSiLU',
  // special.ts
  'StopGradient', 'ReplaceGrad', 'Clip', 'ClampWithGrad',
  // trig.ts
  'Sin', 'Cos',
] as const;

export type OpName = (typeof OP_NAMES)[number];
