/**
 * The one renderer of Prometheus text (exposition format 0.0.4) for offheap: every field
 * of every source's `stats()`, counters as `<prefix>_<kind>_<family>_total`, gauges
 * plain, `# HELP` and `# TYPE` once per family, a `structure` label naming the source
 * (plus the labels of its spec and of child sources such as a cache's tiers). A source
 * with no description (anything with a `stats()`) gives gauges named after its fields.
 */
import { invalidArg, objectArg, optionsArg, requestArg } from "../primitives/arguments.ts";
import { descriptionOf, type StatSpec } from "./describe.ts";

/** Anything with a `stats()` object: every handle in offheap, or your own. */
export interface MetricsSource {
  /** The numbers to expose: each numeric (or boolean) field becomes a sample. */
  stats(): object;
}

/** Options for {@link renderMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name. Default `"offheap"`. */
  prefix?: string;
}

interface Family {
  type: "counter" | "gauge";
  help: string;
  samples: string[];
}

function snake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_");
}

function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${labelValue(v)}"`)
    .join(",");
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  return undefined;
}

function format(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
}

const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Check the arguments of {@link renderMetrics} and {@link metricsHandler}; returns the prefix. */
function checkArgs(sources: unknown, options: MetricsOptions): string {
  for (const [name, source] of Object.entries(objectArg("sources", sources as object | undefined))) {
    if (typeof (source as MetricsSource | null)?.stats !== "function") throw invalidArg(`sources.${name}`, "a metrics source (anything with a stats() method)", source);
  }
  optionsArg("options", options);
  const prefix = options.prefix === undefined ? "offheap" : options.prefix;
  if (typeof prefix !== "string" || !METRIC_PREFIX.test(prefix)) throw invalidArg("prefix", "a metric name prefix (letters, digits, _ and :, not starting with a digit)", prefix);
  return prefix;
}

/**
 * Render the `stats()` of each named source. A source whose `stats()` throws (a closed
 * handle) is left out.
 * @throws `ERR_INVALID` when `sources` is not an object of sources with a `stats()`
 * method, or the prefix is not a metric name prefix.
 */
export function renderMetrics(sources: Readonly<Record<string, MetricsSource>>, options: MetricsOptions = {}): string {
  const prefix = checkArgs(sources, options);
  const families = new Map<string, Family>();
  const add = (name: string, spec: Pick<StatSpec, "type" | "help">, labels: Readonly<Record<string, string>>, value: number) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { type: spec.type, help: spec.help, samples: [] }));
    f.samples.push(`${name}{${labelText(labels)}} ${format(value)}`);
  };
  const visit = (source: MetricsSource, labels: Readonly<Record<string, string>>) => {
    let stats: Record<string, unknown>;
    try {
      stats = source.stats() as Record<string, unknown>;
    } catch {
      return; // a closed handle has nothing to report
    }
    const d = descriptionOf(source);
    const base = d === undefined ? prefix : `${prefix}_${d.kind}`;
    for (const [field, raw] of Object.entries(stats)) {
      const spec = d?.specs[field as never] as StatSpec | undefined;
      if (spec?.skip) continue;
      const n = numberOf(raw);
      if (n !== undefined) {
        const s = spec ?? { type: "gauge" as const, help: `${field} from stats()` };
        const name = `${base}_${s.family ?? snake(field)}${s.type === "counter" ? "_total" : ""}`;
        add(name, s, { ...labels, ...s.labels }, n);
      } else if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && spec === undefined) {
        // A map of numbers: one sample per entry, labelled by its key.
        for (const [kind, v] of Object.entries(raw as Record<string, unknown>)) {
          const m = numberOf(v);
          if (m !== undefined) add(`${base}_${snake(field)}`, { type: "gauge", help: `${field} from stats(), by kind` }, { ...labels, kind }, m);
        }
      }
    }
    for (const child of d?.children?.(source) ?? []) visit(child.source, { ...labels, ...child.labels });
  };
  for (const [structure, source] of Object.entries(sources)) visit(source, { structure });
  const out: string[] = [];
  for (const [name, f] of families) out.push(`# HELP ${name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${f.type}`, ...f.samples);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

/**
 * A `fetch` handler for `Bun.serve` that answers `GET /metrics` with {@link renderMetrics}
 * of `sources` (read at each request) and 404 for anything else.
 * @throws `ERR_INVALID` (at the call) as {@link renderMetrics} does; the handler throws it
 * for anything but a `Request`.
 */
export function metricsHandler(sources: Readonly<Record<string, MetricsSource>>, options: MetricsOptions = {}): (req: Request) => Response {
  checkArgs(sources, options);
  return (req) => {
    if (new URL(requestArg(req).url).pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    return new Response(renderMetrics(sources, options), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
  };
}
