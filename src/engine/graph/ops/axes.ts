import { GraphError, type Tensor } from '../graph.ts';

/** A possibly negative axis as an index in [0, rank), or an error naming the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Reduction axes: negatives resolved, duplicates dropped, sorted. */
export function normAxes(op: string, x: Tensor, axes: readonly number[]): number[] {
  const out = [...new Set(axes.map((a) => (a < 0 ? a + x.rank : a)))].sort((a, b) => a - b);
  for (const a of out) if (a < 0 || a >= x.rank) throw new GraphError(`${op}: axis out of range for ${x}`);
  return out;
}
