/**
 * How a structure's `stats()` fields become metrics: each field is a counter or a gauge
 * with a help text, optionally folded into a family shared with other fields under a
 * label (`evictionsCapacity` → `evictions_total{reason="capacity"}`). A structure
 * describes its stats once, next to its class; the renderer finds the description by the
 * source's constructor. Knows no structure.
 */
import { functionArg, functionOption, invalidArg, objectArg } from "../primitives/arguments.ts";

/** A Prometheus metric type. */
export type MetricType = "counter" | "gauge";

/** What one `stats()` field is. */
export interface StatSpec {
  /** `counter` (rendered with `_total`, only goes up) or `gauge` (a current value). */
  type: MetricType;
  /** One line for `# HELP`. */
  help: string;
  /** The family name (snake_case, without prefix, kind or `_total`); default: the field's name in snake_case. */
  family?: string;
  /** Labels this field's sample carries within its family. */
  labels?: Readonly<Record<string, string>>;
  /** Leave the field out (a sum another family already gives). */
  skip?: boolean;
}

/** A spec for each field of `S` worth exposing. */
export type StatSpecs<S> = { readonly [K in keyof S]?: StatSpec };

/** A source inside another (a tier of a cache), with the labels that tell it apart. */
export interface ChildSource {
  labels: Readonly<Record<string, string>>;
  source: { stats(): object };
}

/** How a kind of handle is exposed. */
export interface MetricsDescription<S extends object = object> {
  /** The kind in metric names: `offheap_<kind>_<family>`, e.g. `ring`, `arena`, `file_store`. */
  kind: string;
  /** How each field of the source's `stats()` is exposed; a numeric field without a spec becomes a gauge named after it. */
  specs: StatSpecs<S>;
  /** Sources within this one, exposed with extra labels. */
  children?(source: object): ChildSource[];
}

const descriptions = new WeakMap<object, MetricsDescription>();

/**
 * Describe the stats of the handles `ctor` makes.
 * @throws `ERR_INVALID` unless `ctor` is a class (a function) and `description` has a
 * snake_case `kind`, an object of `specs` and, if any, a `children` function.
 */
export function describeStats<S extends object>(ctor: object, description: MetricsDescription<S>): void {
  functionArg("ctor", ctor);
  const d = objectArg("description", description);
  if (typeof d.kind !== "string" || !/^[a-z][a-z0-9_]*$/.test(d.kind)) throw invalidArg("description.kind", "a snake_case name", d.kind);
  objectArg("description.specs", d.specs);
  functionOption("description.children", d.children);
  descriptions.set(ctor, description as MetricsDescription);
}

/** The description of `source`'s kind, when it has one. */
export function descriptionOf(source: object): MetricsDescription | undefined {
  let proto: object | null = Object.getPrototypeOf(source);
  while (proto !== null) {
    const d = descriptions.get((proto as { constructor: object }).constructor);
    if (d !== undefined) return d;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}
