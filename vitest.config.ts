import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // onnxruntime sessions are native and heavy: forks isolate them, and two workers fit the 2-core CI machine.
    // Vitest 4 took poolOptions away: maxWorkers is top level, and workers start as files need them (no minWorkers).
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
