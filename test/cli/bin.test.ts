import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

// End-to-end: the built bin (npm test builds dist/ first, through `pretest`).
const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin/autoglm.js');

describe('bin/autoglm.js', () => {
  it('is built', () => {
    expect(fs.existsSync(path.join(root, 'dist/cli/main.js'))).toBe(true);
  });
  it('prints the version and the command list', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(execFileSync('node', [bin, '--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    const help = execFileSync('node', [bin, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/inspect/);
  });
  it('exits 2 on a missing file, with one line on stderr', () => {
    const r = spawnSync('node', [bin, 'inspect', 'no-such-model.onnx'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
  it("require('autoglm') works from CommonJS (the exports' default condition; Node 20.19+ requires ES modules)", () => {
    const r = spawnSync('node', ['-e', "const m = require('autoglm'); console.log(typeof m.loadModel, typeof m.inspectModel)"], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function function');
  });
});
