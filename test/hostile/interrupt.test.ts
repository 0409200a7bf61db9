/**
 * Interrupted saves: a child process builds a ~200 MB model and saves it over an existing output; the test kills it
 * (SIGKILL, no chance to clean up) at random moments of the save, again and again. After every kill the output file
 * must be exactly the previous file or exactly the new one (compared by SHA-256 with what the child was writing),
 * never a mix or a truncation. The last kill comes late, so that save usually completes: a save still works beside
 * the temporary files the earlier kills left behind (SIGKILL gives no chance to remove them).
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-interrupt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Elements of the big initializer: 50M float32 = 200 MB. */
const ELEMENTS = 50_000_000;
const KILLS = 4;

/** The child: builds the model with every weight equal to `fill`, prints the SHA-256 of its encoding, then saves. */
const CHILD = `
import * as crypto from 'node:crypto';
import { createModel, floatTensor } from ${JSON.stringify(path.join(root, 'src/ir/builder.ts'))};
import { DataType } from ${JSON.stringify(path.join(root, 'src/ir/dtype.ts'))};
import { modelToMsg } from ${JSON.stringify(path.join(root, 'src/onnx/serde.ts'))};
import { encodeMessage } from ${JSON.stringify(path.join(root, 'src/onnx/schema.ts'))};
import { saveModel } from ${JSON.stringify(path.join(root, 'src/onnx/io.ts'))};
const [out, fill, n] = process.argv.slice(2);
const { model, b } = createModel({ opset: 17 });
const x = b.input('x', DataType.FLOAT, [1, Number(n)]);
const w = b.init('w', floatTensor([1, Number(n)], new Float32Array(Number(n)).fill(Number(fill))));
b.output(b.op('Add', [x, w]), 'y', DataType.FLOAT, [1, Number(n)]);
model.setMetadata('fill', fill);
const h = crypto.createHash('sha256');
const { parts } = encodeMessage('ModelProto', modelToMsg(model));
for (const p of parts) h.update(p);
process.stdout.write('hash ' + h.digest('hex') + '\\n');
process.stdout.write('saving\\n');
const t0 = performance.now();
saveModel(model, out, { externalData: false });
process.stdout.write('saved ' + (performance.now() - t0).toFixed(0) + '\\n');
`;

interface ChildRun {
  hash: string;
  /** ms the save took (when it finished) */
  saveMs?: number;
  killed: boolean;
}

/** Runs the child; kills it `killAfterMs` after it starts saving (undefined: let it finish). */
function runChild(childFile: string, out: string, fill: number, killAfterMs?: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childFile, out, String(fill), String(ELEMENTS)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hash = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /hash ([0-9a-f]{64})/.exec(stdout);
      if (m) hash = m[1];
      if (killAfterMs !== undefined && !killed && stdout.includes('saving\n')) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const saved = /saved (\d+)/.exec(stdout);
      if (!hash) return reject(new Error(`child produced no hash (exit ${code ?? signal}): ${stderr.slice(0, 500)}`));
      if (!saved && signal !== 'SIGKILL') return reject(new Error(`child failed (exit ${code}): ${stderr.slice(0, 500)}`));
      resolve({ hash, saveMs: saved ? Number(saved[1]) : undefined, killed: signal === 'SIGKILL' });
    });
  });
}

function sha256(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (!n) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

describe('interrupted saves', () => {
  it(`the output is always the old file or the new one, over ${KILLS} kills during a 200 MB save`, { timeout: 240_000 }, async () => {
    const childFile = path.join(tmp, 'child.ts');
    fs.writeFileSync(childFile, CHILD);
    const dir = fs.mkdtempSync(path.join(tmp, 'out-'));
    const out = path.join(dir, 'model.onnx');
    // the first, uninterrupted save: the "old" file, and how long a save takes here
    const first = await runChild(childFile, out, 1);
    expect(sha256(out)).toBe(first.hash);
    const saveMs = Math.max(50, first.saveMs ?? 1000);
    let current = first.hash;
    const rng = new Rng(2024);
    const outcomes: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      // spread the kills over the whole save (the rename at its end included); the last one usually comes too late
      const delay = k === KILLS - 1 ? Math.floor(saveMs * 3) : Math.floor(((k + rng.float()) / (KILLS - 1)) * saveMs * 1.1);
      const run = await runChild(childFile, out, k + 2, delay);
      const now = sha256(out);
      const which = now === current ? 'old' : now === run.hash ? 'new' : 'CORRUPT';
      outcomes.push(`${delay} ms: ${which}${run.killed ? '' : ' (finished before the kill)'}`);
      expect(which, `kill ${k} after ${delay} ms of a ${saveMs} ms save: the output is neither the old file nor the new one`).not.toBe('CORRUPT');
      current = now;
    }
    const leftovers = fs.readdirSync(dir).filter((f) => f !== 'model.onnx');
    console.log(`interrupt: save takes ~${saveMs} ms; kills: ${outcomes.join(', ')}; temporary files left by SIGKILL: ${leftovers.length}`);
  });
});
