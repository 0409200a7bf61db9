/**
 * One open FileSource per external-data file, shared by the tensors that stream from it. An entry is reused only
 * while the path still names the file it opened; the descriptor closes when no tensor references the source.
 * Some exporters write one file per tensor: past MAX_OPEN_EXTERNAL_FILES open at once, further files are not opened
 * for streaming (undefined: their tensors are read into memory when needed), so a model cannot exhaust the
 * process's file descriptors.
 */
import * as fs from 'node:fs';
import { FileSource } from './sources.js';

/** A data file that is missing, unreadable or too short; the message names the file as the model refers to it. */
export class ExternalDataError extends Error {}

const externalFiles = new Map<string, WeakRef<FileSource>>();
export const MAX_OPEN_EXTERNAL_FILES = 256;

/**
 * The shared open source of the data file at `path` (written `location` in the model), checked to hold bytes
 * [offset, offset + length); undefined past the open-file limit.
 */
export function openDataFile(path: string, location: string, offset: number, length: number): FileSource | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw new ExternalDataError(`cannot open external data file ${location}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (offset + length > st.size) throw new ExternalDataError(`external data file ${location} ends before offset ${offset} + ${length}`);
  const cached = externalFiles.get(path)?.deref();
  if (cached && cached.identity === `${st.dev}:${st.ino}`) return cached;
  for (const [p, w] of externalFiles) if (!w.deref()) externalFiles.delete(p);
  if (externalFiles.size >= MAX_OPEN_EXTERNAL_FILES) return undefined;
  let file: FileSource;
  try {
    file = new FileSource(path);
  } catch (e) {
    throw new ExternalDataError(`cannot open external data file ${location}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  externalFiles.set(path, new WeakRef(file));
  return file;
}
