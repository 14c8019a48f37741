import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;

/**
 * A full garbage collection. Released weight arrays are otherwise freed only at V8's next major GC,
 * which a step's few small allocations may not bring on for many steps: until then the weights count
 * twice (here and in ONNX Runtime) at the session's memory peak.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}
