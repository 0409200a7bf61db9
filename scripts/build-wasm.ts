/**
 * npm run build:wasm — assembles src/ir/wasm/float-codecs.wat with wabt into src/ir/wasm/float-codecs.wasm.ts (the
 * module's bytes as base64, so the package needs no .wasm file and no loader). Run after editing the .wat; the test
 * suite fails while the two disagree. `--check` only compares.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleWat, renderWasmModule } from './wasm-assemble.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watPath = path.join(root, 'src/ir/wasm/float-codecs.wat');
const outPath = path.join(root, 'src/ir/wasm/float-codecs.wasm.ts');

const bytes = await assembleWat(fs.readFileSync(watPath, 'utf8'), 'float-codecs.wat');
const text = renderWasmModule(bytes, 'src/ir/wasm/float-codecs.wat');
if (process.argv.includes('--check')) {
  const same = fs.existsSync(outPath) && fs.readFileSync(outPath, 'utf8') === text;
  console.log(same ? 'float-codecs.wasm.ts is up to date' : 'float-codecs.wasm.ts is stale: run npm run build:wasm');
  process.exit(same ? 0 : 1);
}
fs.writeFileSync(outPath, text);
console.log(`wrote ${path.relative(root, outPath)}: ${bytes.length} bytes of WebAssembly`);
