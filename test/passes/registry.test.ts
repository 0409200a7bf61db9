import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { allPasses, getPass, PASS_NAMES, type PassPresetName, presets, resolvePasses } from '../../src/optimize/registry.js';

const root = path.resolve(__dirname, '../..');
// graph passes (clean-up, fusion) in src/passes; the conversion and pruning wrappers in src/optimize/passes
const PASS_DIRS = ['src/passes', 'src/optimize/passes'];
const dirOf = new Map<string, string>();
for (const dir of PASS_DIRS)
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true }))
    if (e.isFile() && e.name.endsWith('.ts') && e.name !== 'index.ts') dirOf.set(e.name.replace(/\.ts$/, ''), dir);
const passFiles = [...dirOf.keys()];

describe('pass registry', () => {
  it('registers every pass file under its file name', () => {
    expect(passFiles.length).toBeGreaterThan(0);
    expect(allPasses.map((p) => p.name).sort()).toEqual([...passFiles].sort());
  });

  it('PASS_NAMES and PassPresetName (the types that make a misspelt pass name a compile error) list every pass and preset', () => {
    expect([...PASS_NAMES].sort()).toEqual(allPasses.map((p) => p.name).sort());
    const presetNames: Record<PassPresetName, true> = { cleanup: true, transformer: true, cnn: true };
    expect(Object.keys(presets).sort()).toEqual(Object.keys(presetNames).sort());
  });

  it.each(passFiles)('%s: its default export is the registered pass, named as the file', async (file) => {
    const mod = (await import(/* @vite-ignore */ path.join(root, dirOf.get(file)!, `${file}.ts`))) as { default: { name: string } };
    expect(mod.default.name).toBe(file);
    expect(getPass(file)).toBe(mod.default);
  });

  it.each(passFiles)('%s has a test file', (file) => {
    const testFile = `${dirOf.get(file)!.replace(/^src/, 'test')}/${file}.test.ts`;
    expect(fs.existsSync(path.join(root, testFile)), `missing ${testFile}`).toBe(true);
  });

  it.each(allPasses.map((p) => [p.name, p] as const))('%s follows the conventions', (name, p) => {
    expect(name).toMatch(/^[a-z]+(-[a-z0-9]+)+$/); // kebab-case verb phrase
    expect(p.description.length).toBeGreaterThan(10);
    expect(['cleanup', 'fusion', 'conversion', 'pruning']).toContain(p.kind);
    const src = fs.readFileSync(path.join(root, dirOf.get(name)!, `${name}.ts`), 'utf8');
    expect(src.startsWith('/**')).toBe(true); // the opening comment: sketch and firing conditions
    expect(src.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('has names unique and presets made of registered passes', () => {
    expect(new Set(allPasses.map((p) => p.name)).size).toBe(allPasses.length);
    for (const [name, list] of Object.entries(presets)) {
      expect(list.length, name).toBeGreaterThan(0);
      for (const p of list) expect(() => getPass(p)).not.toThrow();
    }
    expect(presets.cleanup).toContain('eliminate-dead-nodes');
  });

  it('explains an unknown name: closest names first, every pass and preset listed', () => {
    expect(() => getPass('eliminate-identiy')).toThrow(UsageError);
    expect(() => getPass('eliminate-identiy')).toThrow(/unknown pass 'eliminate-identiy'. Did you mean 'eliminate-identity'\?/);
    expect(() => getPass('nope')).toThrow(/Passes: .*fold-constants.*Presets: cleanup/);
    expect(() => getPass('cleanup')).toThrow(/is a preset/);
  });

  it('resolves preset names in pass lists', () => {
    expect(resolvePasses(['cleanup']).map((p) => p.name)).toEqual(presets.cleanup);
    expect(resolvePasses(['fold-constants', getPass('eliminate-identity')]).map((p) => p.name)).toEqual(['fold-constants', 'eliminate-identity']);
  });
});
