/**
 * Output fidelity of a candidate model against a reference on the same inputs: both run in onnxruntime (the feeds,
 * made for the reference, converted to the candidate's declared input types), and every output of the reference is
 * compared with the candidate's output of the same name (see compareOutputs for the measures).
 */
import type * as ort from 'onnxruntime-node';
import type { Model } from '../ir/model.js';
import { adaptFeeds } from '../inputs/adapt.js';
import { createSession, runSession, type Feeds } from '../runtime/session.js';
import { compareOutputs, toOutputSet, type OutputSet } from './fidelity.js';
import type { OutputFidelity } from './types.js';

/** Compares runs already made: `got[k]` and `ref[k]` ran on input set k; outputs are matched by the reference's names. */
export function compareRuns(got: readonly Record<string, ort.Tensor>[], ref: readonly Record<string, ort.Tensor>[]): OutputFidelity[] {
  const g: OutputSet[] = got.map(toOutputSet);
  const r: OutputSet[] = ref.map(toOutputSet);
  const names = ref.length ? Object.keys(ref[0]!) : [];
  return compareOutputs(
    g,
    r,
    names.map((n): [string, string] => [n, n]),
  );
}

/** Runs both models on every feed set and compares their outputs. */
export async function compareModels(reference: Model, candidate: Model, feeds: readonly Feeds[]): Promise<OutputFidelity[]> {
  const s0 = await createSession(reference);
  const s1 = await createSession(candidate);
  try {
    const { feeds: adapted } = adaptFeeds(feeds, candidate);
    const ref = [];
    const got = [];
    for (let k = 0; k < feeds.length; k++) {
      ref.push(await runSession(s0, feeds[k]!));
      got.push(await runSession(s1, adapted[k]!));
    }
    return compareRuns(got, ref);
  } finally {
    await s0.release();
    await s1.release();
  }
}
