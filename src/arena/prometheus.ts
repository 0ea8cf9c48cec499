/**
 * ArenaCache's Prometheus text exposition (format 0.0.4): counters with `_total`,
 * evictions labelled by reason, and gauges for entries and bytes.
 */
import type { ArenaStats } from "./cache.ts";

function family(out: string[], name: string, type: "counter" | "gauge", help: string, samples: Array<[string, number]>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
}

/** Render `s` with metric names starting with `prefix`. */
export function renderArenaMetrics(s: ArenaStats, prefix: string): string {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new Error(`bad metric prefix ${JSON.stringify(prefix)}`);
  const out: string[] = [];
  family(out, `${prefix}_hits_total`, "counter", "Lookups that found a live entry.", [["", s.hits]]);
  family(out, `${prefix}_misses_total`, "counter", "Lookups that found nothing or an expired entry.", [["", s.misses]]);
  family(out, `${prefix}_sets_total`, "counter", "Entries stored.", [["", s.sets]]);
  family(out, `${prefix}_rejected_total`, "counter", "Sets refused because the entry can never fit.", [["", s.rejected]]);
  family(out, `${prefix}_evictions_total`, "counter", "Entries removed, by reason.", [
    ['{reason="capacity"}', s.evictionsCapacity],
    ['{reason="expired"}', s.evictionsExpired],
    ['{reason="deleted"}', s.evictionsDeleted],
    ['{reason="replaced"}', s.evictionsReplaced],
  ]);
  family(out, `${prefix}_loads_total`, "counter", "Loader calls made by getOrLoad.", [["", s.loads]]);
  family(out, `${prefix}_load_errors_total`, "counter", "Loader calls that failed.", [["", s.loadErrors]]);
  family(out, `${prefix}_compactions_total`, "counter", "Generations recycled.", [["", s.compactions]]);
  family(out, `${prefix}_entries`, "gauge", "Entries held.", [["", s.entries]]);
  family(out, `${prefix}_bytes`, "gauge", "Bytes charged for the entries held (keys, values, overhead).", [["", s.bytes]]);
  family(out, `${prefix}_max_bytes`, "gauge", "Configured byte bound.", [["", s.maxBytes]]);
  return `${out.join("\n")}\n`;
}
