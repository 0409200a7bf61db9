import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The published package, end to end: `npm pack` (dist/ is built by `pretest`), install the tarball into an empty
// folder, run `npx autoglm demo`. Dependencies come from npm's cache when it has them (--prefer-offline).
const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-pack-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('npm pack', () => {
  it('installs in an empty folder and `npx autoglm demo` exits 0', () => {
    const env = {
      ...process.env,
      npm_config_onnxruntime_node_install: 'skip',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
      npm_config_update_notifier: 'false',
    };
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, env, encoding: 'utf8' });
    const info = JSON.parse(packed)[0];
    const files: string[] = info.files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('bin/autoglm.js');
    expect(files).toContain('fixtures/bert-mini.onnx');
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/'))).toBe(false);
    // no source maps pointing at src/, which is not shipped
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, info.filename)], { cwd: app, env, stdio: 'pipe' });
    const r = spawnSync('npx', ['--no-install', 'autoglm', 'demo', '--runs', '20'], {
      cwd: app,
      env: { ...env, CI: 'true' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pruned-ffn-50%/);
    // the library is importable by its package name, with types
    const lib = spawnSync(
      'node',
      [
        '--input-type=module',
        '-e',
        "import { loadModel, inspectModel } from 'autoglm'; console.log(inspectModel(loadModel('node_modules/autoglm/fixtures/bert-mini.onnx')).parameters.total)",
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(lib.status).toBe(0);
    expect(Number(lib.stdout.trim())).toBeGreaterThan(900_000);
    expect(fs.existsSync(path.join(app, 'node_modules/autoglm/dist/index.d.ts'))).toBe(true);
    // and from CommonJS
    const cjs = spawnSync('node', ['-e', "console.log(typeof require('autoglm').loadModel)"], { cwd: app, encoding: 'utf8' });
    expect(cjs.stdout.trim()).toBe('function');
    // onnx-proto (and protobufjs with it) is only for autoglm's own tests
    expect(fs.existsSync(path.join(app, 'node_modules/onnx-proto'))).toBe(false);
  }, 300_000);
});
