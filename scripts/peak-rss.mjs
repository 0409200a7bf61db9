// Peak resident memory of this process, for the benchmark child processes (io-child.mjs, quantize-child.mjs).
// Not getrusage's maxRSS: on Linux it is inherited from the parent across fork and exec, so a child of a process
// holding a 400 MB model would report that. /proc's VmHWM belongs to this address space only.
import { readFileSync } from 'node:fs';

export function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}
