/**
 * The one metrics model: every structure's stats() through one renderer, checked with a
 * real Prometheus text parser and linted by `promtool check metrics`.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { ArenaCache, DurableQueue, FileStore, MemoryStore, RecordStore, RingBuffer, TieredCache, metricsHandler, renderMetrics, schema, t } from "../../src/index.ts";
import { tempDir } from "../helpers/index.ts";

// Bun has no project-wide test timeout setting: each file sets it (the 5 s default is short for a loaded machine).
setDefaultTimeout(120_000);

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

const dir = tempDir("offheap-metrics-");
const ring = RingBuffer.open(dir.file("events.ring"), { recordSize: 64, capacity: 64 });
const queue = DurableQueue.open(dir.file("jobs"));
const ticks = RecordStore.open(dir.file("ticks.records"), schema({ price: t.f64 }, { name: "Tick", version: 1 }));
const users = new ArenaCache({ maxBytes: 1 << 20 });
const pages = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 1 << 20 }), FileStore.open(dir.file("pages"), { sync: "none" })] });

afterAll(async () => {
  ring.close();
  queue.close();
  ticks.close();
  users.close();
  await pages.close();
  dir.remove();
});

async function exercise(): Promise<void> {
  ring.append("tick");
  ring.get(0);
  queue.append("job");
  ticks.append({ price: 1 });
  users.set("a", new Uint8Array(4));
  users.get("a");
  users.get("missing");
  users.delete("a");
  await pages.set("/p", "page");
  await (await pages.get("/p", async () => ({ body: "x" }))).text();
}

function parse(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

const sample = (f: Family | undefined, labels: Record<string, string>) => f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));

describe("metrics", () => {
  test("every structure renders through one model: counters end in _total, gauges do not, each family has HELP and TYPE", async () => {
    await exercise();
    const text = renderMetrics({ events: ring, jobs: queue, ticks, users, pages });
    const families = parse(text);
    expect(families.size).toBeGreaterThan(40);
    for (const f of families.values()) {
      expect([f.name, f.type === "COUNTER" || f.type === "GAUGE"]).toEqual([f.name, true]);
      expect([f.name, f.type === "COUNTER"]).toEqual([f.name, f.name.endsWith("_total")]);
      expect([f.name, f.help.length > 0]).toEqual([f.name, true]);
      for (const m of f.metrics) expect(m.labels?.structure).toBeDefined();
    }
    for (const line of text.split("\n").filter((l) => l.startsWith("# TYPE"))) expect(text.split(`${line}\n`).length).toBe(2);
    // One cache appears once, under its kind: no unprefixed duplicates of its counters.
    expect(sample(families.get("offheap_arena_hits_total"), { structure: "users" })?.value).toBe("1");
    expect(families.has("offheap_hits")).toBe(false);
    expect(sample(families.get("offheap_arena_evictions_total"), { structure: "users", reason: "deleted" })?.value).toBe("1");
    expect(sample(families.get("offheap_ring_appends_total"), { structure: "events" })?.value).toBe("1");
    expect(sample(families.get("offheap_ring_next"), { structure: "events" })?.value).toBe("1");
    expect(sample(families.get("offheap_queue_appends_total"), { structure: "jobs" })?.value).toBe("1");
    expect(sample(families.get("offheap_records_records"), { structure: "ticks" })?.value).toBe("1");
    expect(sample(families.get("offheap_tiered_hits_total"), { structure: "pages" })?.value).toBe("1");
    // The tiers, labelled by position.
    expect(sample(families.get("offheap_memory_store_writes_total"), { structure: "pages", tier: "0" })?.value).toBe("1");
    expect(sample(families.get("offheap_file_store_writes_total"), { structure: "pages", tier: "1" })?.value).toBe("1");
  });

  test("promtool check metrics finds nothing to complain about", async () => {
    const which = Bun.spawnSync(["which", "promtool"]);
    expect(which.exitCode).toBe(0); // CI installs Debian's prometheus package, which has promtool
    const text = renderMetrics({ events: ring, jobs: queue, ticks, users, pages });
    const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect({ code, out, err }).toEqual({ code: 0, out: "", err: "" });
  });

  test("ArenaCache.metrics() is the same renderer", () => {
    const text = users.metrics("users");
    expect(text).toBe(renderMetrics({ users }));
  });

  test("anything with a stats() renders as gauges named after its fields; label values are escaped", () => {
    const custom = { stats: () => ({ inQueue: 3, open: true, byKind: { a: 1, b: 2 }, note: "skipped" }) };
    const families = parse(renderMetrics({ 'my "thing"\\': custom }, { prefix: "app" }));
    expect(families.get("app_in_queue")?.metrics[0]).toEqual({ value: "3", labels: { structure: 'my "thing"\\' } });
    expect(families.get("app_open")?.metrics[0]?.value).toBe("1");
    expect(sample(families.get("app_by_kind"), { kind: "b" })?.value).toBe("2");
    expect([...families.keys()].some((k) => k.includes("note"))).toBe(false);
    expect(renderMetrics({})).toBe("");
  });

  test("metricsHandler serves /metrics as Prometheus text and 404 elsewhere", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: metricsHandler({ events: ring }) });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(parse(await res.text()).has("offheap_ring_appends_total")).toBe(true);
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      server.stop(true);
    }
  });
});
