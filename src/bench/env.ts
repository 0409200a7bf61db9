/** The machine and versions a bench ran with (recorded in every report). */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { BenchEnvironment } from './types.js';

const require = createRequire(import.meta.url);

function packageVersion(): string {
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'autoglm' && pkg.version) return pkg.version;
    } catch {
      // try the next location (src/bench and dist/bench sit at the same depth; kept for safety)
    }
  }
  return 'unknown';
}

export function benchEnvironment(): BenchEnvironment {
  const cpus = os.cpus();
  return {
    os: { platform: os.platform(), release: os.release(), arch: os.arch() },
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', cores: os.availableParallelism() },
    totalMemory: os.totalmem(),
    node: process.version,
    onnxruntime: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown',
    autoglm: packageVersion(),
  };
}
