#!/usr/bin/env node
// Development tool: moves TypeScript modules (git mv) and rewrites every relative import of them, and every
// relative import inside them, across src/, test/, scripts/ and fixtures/.
// Usage: node scripts/dev/move-modules.mjs old.ts=new.ts [old2.ts=new2.ts ...]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = process.cwd();
const moves = new Map(process.argv.slice(2).map((a) => a.split('=').map((p) => path.resolve(root, p))));
const roots = ['src', 'test', 'scripts', 'fixtures', 'vitest.config.ts'];
const files = [];
const walk = (p) => {
  if (!fs.existsSync(p)) return;
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p)) if (e !== 'node_modules') walk(path.join(p, e));
  } else if (/\.(ts|mts|mjs)$/.test(p)) files.push(p);
};
for (const r of roots) walk(path.resolve(root, r));

const SPEC = /((?:from|import|import\(|vi\.mock\(|vi\.importActual\()\s*)(['"])(\.{1,2}\/[^'"]+)\2/g;
const toTs = (p) => p.replace(/\.js$/, '.ts');
const toJs = (p) => p.replace(/\.ts$/, '.js');
let changed = 0;
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  const newFile = moves.get(file) ?? file;
  const out = text.replace(SPEC, (all, pre, q, spec) => {
    const target = path.resolve(path.dirname(file), spec);
    const tsTarget = toTs(target);
    const moved = moves.get(tsTarget);
    const newTarget = moved ? toJs(moved) : target;
    if (!moved && newFile === file) return all;
    let rel = path.relative(path.dirname(newFile), newTarget).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${pre}${q}${rel}${q}`;
  });
  if (out !== text) {
    fs.writeFileSync(file, out);
    changed++;
  }
}
for (const [from, to] of moves) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('git', ['mv', from, to]);
}
console.log(`moved ${moves.size} files, rewrote imports in ${changed}`);
