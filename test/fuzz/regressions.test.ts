/**
 * Replays every model the differential fuzzer saved on a failure: test/fuzz/failures/<pass>-<seed>.onnx is the input
 * model of the failing run (`preset.<name>` for a preset). Each is checked again with the same harness against that
 * pass (the seed and the sizes of the symbolic dimensions come from the model's autoglm.fuzz.* metadata), so once a
 * bug is fixed its model keeps guarding against it. Commit the file together with the fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { caseFromModel, checkCase, FAILURES_DIR, fuzzTargets, parseFailureFile } from './gen.js';

const files = fs.existsSync(FAILURES_DIR)
  ? fs
      .readdirSync(FAILURES_DIR)
      .filter((f) => f.endsWith('.onnx'))
      .sort()
  : [];

describe('fuzz regressions (test/fuzz/failures)', () => {
  it(`finds ${files.length} saved model(s), each named <pass>-<seed>.onnx`, () => {
    for (const f of files) expect(parseFailureFile(f), f).toBeDefined();
  });

  for (const file of files) {
    it(file, async () => {
      const parsed = parseFailureFile(file)!;
      const all = fuzzTargets();
      const target = all.find((t) => t.name === parsed.target);
      expect(target, `${file} names '${parsed.target}', which is not registered (passes and presets: ${all.map((t) => t.name).join(', ')})`).toBeDefined();
      const c = caseFromModel(loadModel(path.join(FAILURES_DIR, file)), parsed.seed);
      const stats = await checkCase(c, [target!], { saveTo: false });
      expect(stats.failures.map((f) => `${f.target} [${f.stage}] ${f.message}`)).toEqual([]);
    });
  }
});
