/**
 * `sweep --emit k8s` against the Kubernetes API schema (kubernetes-models validates with the OpenAPI schema of
 * batch/v1 Job), and the Dockerfile checked without a container runtime: what its final stage copies exists, and
 * the image's layout (/app/bin, /app/dist, /app/node_modules, /app/package.json) laid out in a temp folder runs a
 * sweep through the ENTRYPOINT with the container's arguments.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../../src/cli/ui/io.js';
import { emitK8sJob, type K8sOptions } from '../../src/sweep/k8s.js';
import { UsageError } from '../../src/errors.js';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'autoglm-k8s-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const OPTS: K8sOptions = {
  name: 'sweep-a',
  image: 'autoglm:0.1.0',
  shards: 3,
  cpu: '2',
  memory: '4Gi',
  claim: 'sweep-data',
  mountPath: '/work',
  config: 'sweep.json',
  output: 'results',
};

describe('sweep --emit k8s', () => {
  it('emits an Indexed batch/v1 Job that validates against the Kubernetes schema', () => {
    const job = emitK8sJob({ ...OPTS, parallelism: 2 });
    expect(() => new Job(job as never).validate()).not.toThrow();
    const spec = job.spec as Record<string, any>;
    expect(spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 2 });
    const pod = spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.volumes).toEqual([{ name: 'work', persistentVolumeClaim: { claimName: 'sweep-data' } }]);
    const c = pod.containers[0];
    expect(c.volumeMounts).toEqual([{ name: 'work', mountPath: '/work' }]);
    expect(c.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '2', memory: '4Gi' } });
    expect(c.args).toEqual(['sweep', '/work/sweep.json', '-o', '/work/results', '--shards', '3', '--cache-dir', '/work/cache', '--allow-failures']);
    // a bad config fails the Job at once instead of being retried
    expect(spec.podFailurePolicy.rules[0]).toMatchObject({ action: 'FailJob', onExitCodes: { operator: 'In', values: [2] } });
  });

  it('the schema check is not vacuous: a broken Job is refused', () => {
    const job = emitK8sJob(OPTS) as any;
    job.spec.completionMode = 'Sharded';
    expect(() => new Job(job).validate()).toThrow(/completionMode/);
    const noName = emitK8sJob(OPTS) as any;
    delete noName.spec.template.spec.containers[0].name;
    expect(() => new Job(noName).validate()).toThrow(/name/);
  });

  it('refuses what Kubernetes would refuse, with one line', () => {
    expect(() => emitK8sJob({ ...OPTS, name: 'Sweep_A' })).toThrow(UsageError);
    expect(() => emitK8sJob({ ...OPTS, cpu: 'two' })).toThrow(/quantity/);
    expect(() => emitK8sJob({ ...OPTS, shards: 0 })).toThrow(/shards/);
    expect(() => emitK8sJob({ ...OPTS, output: '../elsewhere' })).toThrow(/inside the volume/);
  });

  it('the CLI prints the Job for a config, with --jobs-per-pod', async () => {
    const cfg = path.join(tmp, 'sweep.json');
    fs.writeFileSync(cfg, JSON.stringify({ models: [path.join(root, 'fixtures/cnn-small.onnx')], recipes: [{ name: 'fused', preset: 'cnn' }] }));
    const io = captureIO(tmp);
    const code = await main(
      ['sweep', 'sweep.json', '--emit', 'k8s', '--shards', '4', '--image', 'registry.local/autoglm:1', '--jobs-per-pod', '2', '-o', 'out'],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const job = JSON.parse(io.stdout());
    expect(() => new Job(job).validate()).not.toThrow();
    expect(job.spec.completions).toBe(4);
    expect(job.spec.template.spec.containers[0].image).toBe('registry.local/autoglm:1');
    expect(job.spec.template.spec.containers[0].args).toContain('--jobs');
  });
});

/** The instructions of the Dockerfile's last stage (after the last FROM). */
function finalStage(): { op: string; args: string }[] {
  const text = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
  const last = lines.map((l) => l.op).lastIndexOf('FROM');
  return lines.slice(last);
}

describe('Dockerfile', () => {
  it('keeps build outputs and dependencies of the checkout out of the build context', () => {
    const ignored = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });

  it('builds on node 20 and its final stage needs no network (no RUN)', () => {
    const stage = finalStage();
    expect(stage[0]!.args).toMatch(/^node:20\b/);
    expect(stage.filter((i) => i.op === 'RUN')).toEqual([]);
    const all = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    // what the build stage copies from the context is in the repository
    for (const m of all.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1]!.split(/\s+/)) expect(fs.existsSync(path.join(root, src)), src).toBe(true);
  });

  it("the image's layout runs a sweep through the ENTRYPOINT", () => {
    const stage = finalStage();
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    // lay out /app as the final stage's COPY lines do (the build stage's node_modules and dist are this checkout's)
    for (const i of stage.filter((x) => x.op === 'COPY')) {
      const parts = i.args.split(/\s+/);
      const dest = parts.pop()!;
      const srcs = parts.filter((p) => !p.startsWith('--'));
      for (const s of srcs) {
        const from = path.join(root, s.replace(/^\/src\//, ''));
        const to = path.join(app, dest.replace(/^\.\/?/, ''), srcs.length > 1 || dest.endsWith('/') ? path.basename(s) : '');
        if (path.basename(from) === 'node_modules') fs.symlinkSync(from, to);
        else fs.cpSync(from, to, { recursive: true });
      }
    }
    const entry = JSON.parse(stage.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry.slice(0, 2)).toEqual(['node', '/app/bin/autoglm.js']);
    for (const p of ['bin/autoglm.js', 'dist/cli/main.js', 'package.json', 'node_modules/onnxruntime-node'])
      expect(fs.existsSync(path.join(app, p)), p).toBe(true);
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    fs.copyFileSync(path.join(root, 'fixtures/cnn-small.onnx'), path.join(work, 'cnn.onnx'));
    fs.writeFileSync(
      path.join(work, 'sweep.json'),
      JSON.stringify({
        models: ['*.onnx'],
        recipes: [
          { name: 'fused', preset: 'cnn' },
          { name: 'fp16', quantize: { dtype: 'fp16', keepIoTypes: true } },
        ],
        bench: { runs: 2, warmup: 1, sessionRepeats: 1 },
      }),
    );
    const out = execFileSync(
      entry[0]!,
      [path.join(app, 'bin/autoglm.js'), 'sweep', path.join(work, 'sweep.json'), '-o', path.join(work, 'results'), '--json', '--jobs', '2'],
      {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    const s = JSON.parse(out);
    // --jobs 2 runs the two jobs in the built worker threads (dist/sweep/job-worker.js)
    expect(s.counts).toMatchObject({ total: 2, ran: 2, pass: 2 });
    for (const id of ['cnn__fused', 'cnn__fp16']) expect(fs.existsSync(path.join(work, `results/jobs/${id}.json`))).toBe(true);
  }, 60_000);
});
