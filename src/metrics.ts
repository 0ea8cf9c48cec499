/**
 * Prometheus text exposition for any set of offheap structures, and a handler for
 * `Bun.serve` that serves it.
 *
 * ```ts
 * Bun.serve({ port: 9100, fetch: metricsHandler({ ticks: ring, jobs: queue, users: cache }) });
 * ```
 */

/**
 * Anything with a `stats()` object: every handle in offheap. Numbers, bigints and booleans
 * become samples; a field holding a map of numbers becomes one sample per entry with a
 * `kind` label; other fields are skipped.
 */
export interface MetricsSource {
  stats(): object;
}

/** Options for {@link renderMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name. Default `"offheap"`. */
  prefix?: string;
}

function metricName(prefix: string, key: string): string {
  const snake = key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return `${prefix}_${snake}`;
}

function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/**
 * Render the `stats()` of each named source as Prometheus text (format 0.0.4). Each stat
 * becomes a gauge `<prefix>_<stat>{structure="<name>"}`; a stat that is a map of numbers
 * becomes one sample per entry with a `kind` label. Non-numeric stats are skipped.
 */
export function renderMetrics(sources: Readonly<Record<string, MetricsSource>>, options: MetricsOptions = {}): string {
  const prefix = options.prefix ?? "offheap";
  const families = new Map<string, string[]>();
  const add = (name: string, labels: string, value: number) => {
    let lines = families.get(name);
    if (!lines) families.set(name, (lines = []));
    lines.push(`${name}{${labels}} ${Number.isFinite(value) ? value : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN"}`);
  };
  for (const [structure, source] of Object.entries(sources)) {
    const base = `structure="${labelValue(structure)}"`;
    for (const [key, value] of Object.entries(source.stats() as Record<string, unknown>)) {
      const name = metricName(prefix, key);
      if (typeof value === "number") add(name, base, value);
      else if (typeof value === "bigint") add(name, base, Number(value));
      else if (typeof value === "boolean") add(name, base, value ? 1 : 0);
      else if (value !== null && typeof value === "object") {
        for (const [kind, n] of Object.entries(value as Record<string, unknown>)) if (typeof n === "number") add(name, `${base},kind="${labelValue(kind)}"`, n);
      }
    }
  }
  const out: string[] = [];
  for (const [name, lines] of families) out.push(`# TYPE ${name} gauge`, ...lines);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}

/**
 * A `fetch` handler for `Bun.serve` that answers `GET /metrics` with {@link renderMetrics}
 * of `sources` (read at each request) and 404 for anything else.
 */
export function metricsHandler(sources: Readonly<Record<string, MetricsSource>>, options: MetricsOptions = {}): (req: Request) => Response {
  return (req) => {
    if (new URL(req.url).pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    return new Response(renderMetrics(sources, options), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
  };
}
