/**
 * The kernel's RSS high-water mark (VmHWM), which sees the peak inside a native call that a JS timer
 * cannot sample, and its reset (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs), so one bench case's
 * peak is measured alone. Elsewhere the mark is the process's ru_maxrss and cannot be reset.
 */
import fs from 'node:fs';

export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
