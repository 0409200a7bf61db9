import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RssSampler } from '../../src/bench/memory.js';

describe('RSS sampler', () => {
  it('sees memory touched while the main thread is blocked, and releases its thread', async () => {
    const sampler = new RssSampler(1);
    try {
      await sampler.ready();
      sampler.start();
      // touch 48 MiB synchronously (the event loop is blocked, as during session creation), hold it ~40 ms
      const buf = Buffer.alloc(48 * 1024 * 1024, 1);
      const until = Date.now() + 40;
      while (Date.now() < until) buf[Math.floor(Math.random() * buf.length)]! += 1;
      const w = sampler.stop();
      expect(w.samples).toBeGreaterThan(3);
      expect(w.peak - w.before).toBeGreaterThan(32 * 1024 * 1024);
      expect(buf.length).toBe(48 * 1024 * 1024);
    } finally {
      await sampler.close();
    }
  });

  it('a process awaiting ready() with nothing else to do stays alive until the thread runs (the built library)', () => {
    const lib = path.resolve(__dirname, '../../dist/bench/memory.js');
    const code = `const { RssSampler } = await import(${JSON.stringify(lib)}); const s = new RssSampler(); await s.ready(); s.start(); console.log('ready', s.stop().before > 0); await s.close();`;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
      expect([r.status, r.stdout.trim()], r.stderr).toEqual([0, 'ready true']);
    }
  });
});
