/**
 * Model: the top of the IR. Holds the main graph, model-local functions, opset imports, metadata, and whatever
 * ModelProto fields this tool does not model (training info, unknown fields) so that saving loses nothing.
 */
import type { OpaqueFields, OpaqueMessage } from './fields.js';
import { type Attribute, Graph, type Node } from './graph.js';

export interface OpsetImport {
  domain: string;
  version: number;
  extra?: OpaqueFields;
}

export interface ModelSource {
  /** absolute path of the file the model was read from */
  path: string;
  /** folder that external-data locations are relative to */
  baseDir: string;
  fileSize: number;
  /** total bytes of tensor data held in external files */
  externalBytes: number;
  externalFiles: string[];
}

/** A model-local function (FunctionProto). Its body is a Graph whose inputs and outputs are the function's. */
export class ModelFunction {
  name: string;
  domain: string;
  overload?: string;
  docString?: string;
  /** names of attributes the function takes, without defaults */
  attributeNames: string[] = [];
  /** attributes with default values */
  attributeProtos: Attribute[] = [];
  opsetImports: OpsetImport[] = [];
  metadataProps: { key: string; value: string }[] = [];
  extra: OpaqueFields = {};
  readonly graph: Graph;
  constructor(name: string, domain: string, graph = new Graph(name)) {
    this.name = name;
    this.domain = domain;
    this.graph = graph;
  }
  get id(): string {
    return `${this.domain}::${this.name}${this.overload ? ':' + this.overload : ''}`;
  }
}

export class Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number | bigint;
  docString?: string;
  metadataProps: { key: string; value: string }[] = [];
  graph: Graph;
  functions: ModelFunction[] = [];
  /** TrainingInfoProto entries, kept as decoded */
  trainingInfo: OpaqueMessage[] = [];
  /** ModelProto fields not modelled here (unknown to this schema: kept as bytes) */
  extra: OpaqueFields = {};
  /** where the model was loaded from, if it was */
  source?: ModelSource;

  constructor(graph: Graph, opts: { irVersion?: number; opsetImports?: OpsetImport[]; producerName?: string; producerVersion?: string } = {}) {
    this.graph = graph;
    this.irVersion = opts.irVersion ?? 8;
    this.opsetImports = opts.opsetImports ?? [{ domain: '', version: 17 }];
    this.producerName = opts.producerName;
    this.producerVersion = opts.producerVersion;
  }

  /** Imported version of an operator set ('' or 'ai.onnx' is the default domain). */
  opset(domain = ''): number | undefined {
    const d = normDomain(domain);
    return this.opsetImports.find((o) => normDomain(o.domain) === d)?.version;
  }
  setOpset(domain: string, version: number): void {
    const d = normDomain(domain);
    const o = this.opsetImports.find((x) => normDomain(x.domain) === d);
    if (o) o.version = version;
    else this.opsetImports.push({ domain, version });
  }

  /** The main graph, every subgraph, and every function body with its subgraphs. */
  allGraphs(): Graph[] {
    return [...this.graph.allGraphs(), ...this.functions.flatMap((f) => f.graph.allGraphs())];
  }
  /** Every node in the model, including subgraphs and function bodies. */
  *allNodes(): IterableIterator<Node> {
    yield* this.graph.allNodes();
    for (const f of this.functions) yield* f.graph.allNodes();
  }
  findFunction(domain: string, name: string, overload?: string): ModelFunction | undefined {
    return this.functions.find((f) => f.domain === domain && f.name === name && (f.overload ?? '') === (overload ?? ''));
  }
  getMetadata(key: string): string | undefined {
    return this.metadataProps.find((p) => p.key === key)?.value;
  }
  setMetadata(key: string, value: string): void {
    const p = this.metadataProps.find((x) => x.key === key);
    if (p) p.value = value;
    else this.metadataProps.push({ key, value });
  }
}

/** A domain as the IR compares them: the default operator set is '' (also written 'ai.onnx'). */
export function normDomain(d: string | undefined): string {
  return !d || d === 'ai.onnx' ? '' : d;
}

/** Whether a node's domain is the default ONNX operator set ('' or 'ai.onnx'). */
export function isStandardDomain(d: string | undefined): boolean {
  return !d || d === 'ai.onnx';
}
