/** Error measures for the parity tolerances of issue 4 (fixture README "Tolerances worth holding"). */

type Arr = ArrayLike<number>;

/** max|a−b| and the allowed bound 1e-4·max(1, max|b|). */
export function maxAbsError(a: Arr, b: Arr, rel = 1e-4): { err: number; bound: number; maxRef: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let err = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= err)) err = d; // NaN propagates
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return { err, bound: rel * Math.max(1, maxRef), maxRef };
}

/** cosine similarity and relative L2 error ‖a−b‖/‖b‖, in float64. */
export function gradientAgreement(a: Arr, b: Arr): { cosine: number; relL2: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  let d2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
    d2 += (a[i]! - b[i]!) ** 2;
  }
  return { cosine: dot / Math.sqrt(na * nb), relL2: Math.sqrt(d2 / nb) };
}
