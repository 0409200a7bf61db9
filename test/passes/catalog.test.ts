import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_FUSE, expandNames, fusePassCatalog, fusionPasses, fusionPresets, resolveFusePasses } from '../../src/passes/index.js';
import { presets } from '../../src/optimize/registry.js';

const root = path.resolve(__dirname, '../..');

describe('the fusion passes as a group', () => {
  it('each fusion pass file holds one pass named as the file, opened by its comment, within 50-250 lines, with a test', () => {
    const files = fs.readdirSync(path.join(root, 'src/passes')).filter((f) => f.startsWith('fuse-') && f !== 'fuse-consecutive-transposes.ts');
    expect(fusionPasses.map((p) => `${p.name}.ts`).sort()).toEqual(files.sort());
    for (const p of fusionPasses) {
      const src = fs.readFileSync(path.join(root, 'src/passes', `${p.name}.ts`), 'utf8');
      expect(src.startsWith('/**'), p.name).toBe(true);
      const lines = src.split('\n').length;
      expect(lines, p.name).toBeGreaterThanOrEqual(50);
      expect(lines, p.name).toBeLessThanOrEqual(250);
      expect(p.kind).toBe('fusion');
      expect(fs.existsSync(path.join(root, 'test/passes', `${p.name}.test.ts`)), p.name).toBe(true);
    }
  });

  it('presets put LayerNorm before GELU (the opset raise for Gelu needs ReduceMean gone) and build on cleanup', () => {
    const t = expandNames(['transformer']);
    expect(t.slice(0, presets.cleanup.length)).toEqual(presets.cleanup);
    expect(t.indexOf('fuse-layer-norm')).toBeLessThan(t.indexOf('fuse-gelu'));
    expect(t.indexOf('fuse-gelu')).toBeLessThan(t.indexOf('fuse-bias-gelu'));
    expect(expandNames(['cnn'])).toContain('fuse-conv-bn');
    expect(DEFAULT_FUSE[0]).toBe('cleanup');
    expect(Object.keys(fusionPresets)).toEqual(['transformer', 'cnn']);
  });

  it('resolves names, presets and Pass objects; an unknown name is a usage error listing the passes', () => {
    expect(resolveFusePasses(['fuse-gelu', fusionPasses[0]]).map((p) => p.name)).toEqual(['fuse-gelu', 'fuse-layer-norm']);
    expect(() => resolveFusePasses(['fuse-gleu'])).toThrow(UsageError);
    expect(() => resolveFusePasses(['fuse-gleu'])).toThrow(/Passes: .*fuse-gelu.*Presets: .*transformer/);
    expect(fusePassCatalog().map((p) => p.name)).toEqual(expect.arrayContaining(['eliminate-identity', 'fuse-attention']));
  });
});
