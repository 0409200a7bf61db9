/**
 * `autoglm sweep --emit k8s`: a Kubernetes batch/v1 Job that runs a sweep as an Indexed Job (Kubernetes is the
 * scheduler; autoglm only splits the work). Pod k of n gets JOB_COMPLETION_INDEX=k from the Job controller and runs
 * `autoglm sweep <config> --shards n`, which reads it and runs shard k/n: jobs k, k+n, k+2n, ...
 *
 * Every pod mounts one volume (a PersistentVolumeClaim, ReadWriteMany when pods may land on several nodes) at
 * `mountPath`, which holds the config, the models, the shared optimize cache and the results: each shard writes its
 * own result files and journal there, so a pod that is restarted resumes its shard, and `autoglm report merge
 * <results>` reads them all once the Job completes. The container runs with no network (the image holds node,
 * autoglm and onnxruntime's CPU runtime). A shard whose jobs fail a gate still exits 0 (`--allow-failures`: the
 * verdicts are in the results, and a retry would only measure again); a bad config (exit 2) fails the whole Job at
 * once through the pod failure policy instead of being retried.
 */
import * as path from 'node:path';
import { UsageError } from '../errors.js';

export interface K8sOptions {
  /** Job name (DNS-1123 label) */
  name: string;
  image: string;
  shards: number;
  /** pods at once (default: shards) */
  parallelism?: number;
  cpu: string;
  memory: string;
  /** the PersistentVolumeClaim holding config, models, cache and results */
  claim: string;
  /** where the claim is mounted in the container */
  mountPath: string;
  /** the config and the output folder, relative to the mount */
  config: string;
  output: string;
  /** jobs at once in each pod (`--jobs`; default 1: a pod's jobs do not share its CPUs while timing) */
  jobsPerPod?: number;
  backoffLimit?: number;
}

export interface K8sJob {
  apiVersion: 'batch/v1';
  kind: 'Job';
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

export function emitK8sJob(o: K8sOptions): K8sJob {
  if (!DNS_LABEL.test(o.name) || o.name.length > 52)
    throw new UsageError(`--name '${o.name}': a Job name is lower-case letters, digits and '-', at most 52 characters`);
  if (!DNS_LABEL.test(o.claim)) throw new UsageError(`--claim '${o.claim}': a PersistentVolumeClaim name is lower-case letters, digits and '-'`);
  if (!Number.isInteger(o.shards) || o.shards < 1) throw new UsageError('--shards must be a positive integer');
  const parallelism = o.parallelism ?? o.shards;
  if (!Number.isInteger(parallelism) || parallelism < 1) throw new UsageError('--parallelism must be a positive integer');
  for (const [flag, q] of [
    ['--cpu', o.cpu],
    ['--memory', o.memory],
  ])
    if (!QUANTITY.test(q!)) throw new UsageError(`${flag} '${q}' is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)`);
  if (!path.posix.isAbsolute(o.mountPath)) throw new UsageError(`--mount '${o.mountPath}' must be an absolute path`);
  const inMount = (p: string, flag: string) => {
    const abs = path.posix.resolve(o.mountPath, p);
    if (abs !== o.mountPath && !abs.startsWith(`${o.mountPath}/`)) throw new UsageError(`${flag} '${p}' must be inside the volume (${o.mountPath})`);
    return abs;
  };
  const config = inMount(o.config, 'the config');
  const output = inMount(o.output, '-o');
  const labels = { 'app.kubernetes.io/name': 'autoglm-sweep', 'app.kubernetes.io/instance': o.name };
  const args = [
    'sweep',
    config,
    '-o',
    output,
    '--shards',
    String(o.shards),
    '--cache-dir',
    path.posix.join(o.mountPath, 'cache'),
    '--allow-failures',
    ...(o.jobsPerPod && o.jobsPerPod > 1 ? ['--jobs', String(o.jobsPerPod)] : []),
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, labels },
    spec: {
      completionMode: 'Indexed',
      completions: o.shards,
      parallelism,
      backoffLimit: o.backoffLimit ?? o.shards * 2,
      podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'sweep', operator: 'In', values: [2] } }] },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'sweep',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              args,
              env: [{ name: 'NO_COLOR', value: '1' }],
              resources: { requests: { cpu: o.cpu, memory: o.memory }, limits: { cpu: o.cpu, memory: o.memory } },
              volumeMounts: [{ name: 'work', mountPath: o.mountPath }],
            },
          ],
          volumes: [{ name: 'work', persistentVolumeClaim: { claimName: o.claim } }],
        },
      },
    },
  };
}
