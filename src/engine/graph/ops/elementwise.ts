import { GraphError, type DType, type Tensor } from '../graph.ts';
import type { OpName } from './names.ts';
import { broadcastShapes, unbroadcast } from './broadcast.ts';
import { defineOp } from './registry.ts';

export type TLike = Tensor | number;

function lift(ref: Tensor, x: TLike): Tensor {
  return typeof x === 'number' ? ref.graph.scalar(x, ref.dtype === 'int64' || ref.dtype === 'float64' ? ref.dtype : 'float32') : x;
}

function binary(op: OpName, a: TLike, b: TLike, outDtype?: DType): Tensor {
  const ref = typeof a === 'number' ? (b as Tensor) : a;
  if (typeof ref === 'number') throw new GraphError(`${op}: at least one operand must be a tensor`);
  const ta = lift(ref, a);
  const tb = lift(ref, b);
  if (ta.dtype !== tb.dtype) throw new GraphError(`${op}: dtype mismatch ${ta} vs ${tb}`);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return ref.graph.addNode(op, [ta, tb], {}, [{ shape, dtype: outDtype ?? ta.dtype }])[0]!;
}

function unary(op: OpName, x: Tensor, attrs = {}): Tensor {
  if (x.dtype !== 'float32' && x.dtype !== 'float64' && !['Neg', 'Abs', 'Identity', 'Sign', 'Not'].includes(op)) {
    throw new GraphError(`${op}: expects a float tensor, got ${x}`);
  }
  return x.graph.addNode(op, [x], attrs, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}

export const add = (a: TLike, b: TLike): Tensor => binary('Add', a, b);
export const sub = (a: TLike, b: TLike): Tensor => binary('Sub', a, b);
export const mul = (a: TLike, b: TLike): Tensor => binary('Mul', a, b);
export const div = (a: TLike, b: TLike): Tensor => binary('Div', a, b);
export const pow = (a: TLike, b: TLike): Tensor => binary('Pow', a, b);
export const maximum = (a: TLike, b: TLike): Tensor => binary('Max', a, b);
export const minimum = (a: TLike, b: TLike): Tensor => binary('Min', a, b);
export const equal = (a: TLike, b: TLike): Tensor => binary('Equal', a, b, 'bool');
export const less = (a: TLike, b: TLike): Tensor => binary('Less', a, b, 'bool');
export const greater = (a: TLike, b: TLike): Tensor => binary('Greater', a, b, 'bool');
export const lessOrEqual = (a: TLike, b: TLike): Tensor => binary('LessOrEqual', a, b, 'bool');
export const greaterOrEqual = (a: TLike, b: TLike): Tensor => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Tensor, b: Tensor): Tensor => binary('And', a, b, 'bool');
export const or = (a: Tensor, b: Tensor): Tensor => binary('Or', a, b, 'bool');
export const not = (x: Tensor): Tensor => unary('Not', x);

export const neg = (x: Tensor): Tensor => unary('Neg', x);
export const sqrt = (x: Tensor): Tensor => unary('Sqrt', x);
export const exp = (x: Tensor): Tensor => unary('Exp', x);
export const log = (x: Tensor): Tensor => unary('Log', x);
export const abs = (x: Tensor): Tensor => unary('Abs', x);
export const sign = (x: Tensor): Tensor => unary('Sign', x);
export const floor = (x: Tensor): Tensor => unary('Floor', x);
export const sigmoid = (x: Tensor): Tensor => unary('Sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('Tanh', x);
export const asin = (x: Tensor): Tensor => unary('Asin', x);
export const erf = (x: Tensor): Tensor => unary('Erf', x);
export const relu = (x: Tensor): Tensor => unary('Relu', x);
export const reciprocal = (x: Tensor): Tensor => unary('Reciprocal', x);
export const identity = (x: Tensor): Tensor => unary('Identity', x);
export const square = (x: Tensor): Tensor => mul(x, x);

/** x · sigmoid(αx), one op so that its gradient keeps only x alive (not the sigmoid as well). */
export function silu(x: Tensor, alpha = 1): Tensor {
  if (x.dtype !== 'float32') throw new GraphError(`SiLU: expects float32, got ${x}`);
  return x.graph.addNode('SiLU', [x], { alpha }, [{ shape: x.shape, dtype: 'float32' }])[0]!;
}
defineOp('SiLU', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const a = node.attrs.alpha as number;
    // d/dx = s·(1 + αx·(1 − s)) with s = σ(αx), written through u = −αx and t = σ(u) = 1 − s: nodes that
    // differ from the forward's, so ONNX Runtime cannot merge them and keep its sigmoid alive until the
    // backward pass; seven element-wise passes
    const u = mul(x, -a);
    const t = sigmoid(u);
    return [mul(gy[0]!, mul(sub(1, t), sub(1, mul(u, t))))];
  },
  emit: (n, e) => {
    const x = e.name(n.inputs[0]!);
    const a = n.attrs.alpha as number;
    const scaled = a === 1 ? x : e.temp('silu_ax');
    if (a !== 1) e.node('Mul', [x, e.float([a], [])], [scaled]);
    const s = e.temp('silu_sigmoid');
    e.node('Sigmoid', [scaled], [s]);
    e.node('Mul', [x, s], [e.outName(n, 0)]);
  },
});
/** x * sigmoid(x): VQGAN's nonlinearity */
export const swish = (x: Tensor): Tensor => silu(x, 1);
/** x * sigmoid(1.702 x): CLIP's activation */
export const quickGelu = (x: Tensor): Tensor => silu(x, 1.702);

const noGrad = { vjp: ({ node }: { node: { inputs: readonly unknown[] } }) => node.inputs.map(() => null) };
for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not', 'Sign', 'Floor'] as const) {
  defineOp(op, noGrad);
}

defineOp('Add', {
  vjp: ({ node, gy }) => [unbroadcast(gy[0]!, node.inputs[0]!.shape), unbroadcast(gy[0]!, node.inputs[1]!.shape)],
});
defineOp('Sub', {
  vjp: ({ node, gy, needs }) => [
    unbroadcast(gy[0]!, node.inputs[0]!.shape),
    needs[1] ? unbroadcast(neg(gy[0]!), node.inputs[1]!.shape) : null,
  ],
});
defineOp('Mul', {
  vjp: ({ node, gy, needs }) => {
    const [a, b] = node.inputs as [Tensor, Tensor];
    return [needs[0] ? unbroadcast(mul(gy[0]!, b), a.shape) : null, needs[1] ? unbroadcast(mul(gy[0]!, a), b.shape) : null];
  },
});
defineOp('Div', {
  vjp: ({ node, gy, needs }) => {
    const [a, b] = node.inputs as [Tensor, Tensor];
    const y = node.outputs[0]!;
    return [
      needs[0] ? unbroadcast(div(gy[0]!, b), a.shape) : null,
      needs[1] ? unbroadcast(neg(div(mul(gy[0]!, y), b)), b.shape) : null,
    ];
  },
});
defineOp('Pow', {
  vjp: ({ node, gy, needs }) => {
    const [a, b] = node.inputs as [Tensor, Tensor];
    const y = node.outputs[0]!;
    return [
      needs[0] ? unbroadcast(mul(gy[0]!, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
      needs[1] ? unbroadcast(mul(gy[0]!, mul(y, log(a))), b.shape) : null,
    ];
  },
});
for (const op of ['Max', 'Min'] as const) {
  defineOp(op, {
    // Ties send the gradient to the first operand, as torch.maximum/minimum do not define it either way.
    vjp: ({ node, gy, needs }) => {
      const [a, b] = node.inputs as [Tensor, Tensor];
      const pickA = op === 'Max' ? greaterOrEqual(a, b) : lessOrEqual(a, b);
      const zero = a.graph.scalar(0);
      return [
        needs[0] ? unbroadcast(where(pickA, gy[0]!, zero), a.shape) : null,
        needs[1] ? unbroadcast(where(pickA, zero, gy[0]!), b.shape) : null,
      ];
    },
  });
}

defineOp('Neg', { vjp: ({ gy }) => [neg(gy[0]!)] });
defineOp('Identity', { vjp: ({ gy }) => [gy[0]!] });
defineOp('Sqrt', { vjp: ({ node, gy }) => [div(gy[0]!, mul(node.outputs[0]!, 2))] });
defineOp('Exp', { vjp: ({ node, gy }) => [mul(gy[0]!, node.outputs[0]!)] });
defineOp('Log', { vjp: ({ node, gy }) => [div(gy[0]!, node.inputs[0]!)] });
defineOp('Abs', { vjp: ({ node, gy }) => [mul(gy[0]!, sign(node.inputs[0]!))] });
defineOp('Relu', {
  vjp: ({ node, gy }) => [where(greater(node.inputs[0]!, 0), gy[0]!, node.inputs[0]!.graph.scalar(0))],
});
defineOp('Reciprocal', {
  vjp: ({ node, gy }) => [neg(mul(gy[0]!, square(node.outputs[0]!)))],
});
defineOp('Sigmoid', {
  vjp: ({ node, gy }) => {
    const y = node.outputs[0]!;
    return [mul(gy[0]!, mul(y, sub(1, y)))];
  },
});
defineOp('Tanh', {
  vjp: ({ node, gy }) => [mul(gy[0]!, sub(1, square(node.outputs[0]!)))],
});
defineOp('Asin', {
  vjp: ({ node, gy }) => [div(gy[0]!, sqrt(sub(1, square(node.inputs[0]!))))],
});
defineOp('Erf', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    return [mul(gy[0]!, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI)))];
  },
});

// Where lives here because Max/Min and Relu need it.
export function where(cond: Tensor, x: TLike, y: TLike): Tensor {
  if (cond.dtype !== 'bool') throw new GraphError(`Where: condition must be bool, got ${cond}`);
  const ref = typeof x === 'number' ? (y as Tensor) : x;
  if (typeof ref === 'number') throw new GraphError('Where: x or y must be a tensor');
  const tx = lift(ref, x);
  const ty = lift(ref, y);
  const shape = broadcastShapes('Where', broadcastShapes('Where', cond.shape, tx.shape), ty.shape);
  return cond.graph.addNode('Where', [cond, tx, ty], {}, [{ shape, dtype: tx.dtype }])[0]!;
}
defineOp('Where', {
  vjp: ({ node, gy, needs }) => {
    const [c, x, y] = node.inputs as [Tensor, Tensor, Tensor];
    const zero = c.graph.scalar(0);
    return [
      null,
      needs[1] ? unbroadcast(where(c, gy[0]!, zero), x.shape) : null,
      needs[2] ? unbroadcast(where(c, zero, gy[0]!), y.shape) : null,
    ];
  },
});
