import { afterAll, describe, expect, test } from "bun:test";
import { metricsHandler, renderMetrics } from "../../src/metrics.ts";

// One line of the Prometheus text format 0.0.4: a comment, or `name{labels} value`.
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;
const TYPE = /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|untyped|histogram|summary)$/;

const ring = { stats: () => ({ appends: 10, lapReads: 2, capacity: 1024, open: true }) };
const cache = { stats: () => ({ hits: 5, evictions: { capacity: 3, expired: 1 }, note: "ignored" }) };

describe("renderMetrics", () => {
  test("every line parses in the exposition format, one TYPE per family", () => {
    const text = renderMetrics({ ticks: ring, "user \"cache\"": cache });
    const lines = text.trimEnd().split("\n");
    for (const line of lines) expect(SAMPLE.test(line) || TYPE.test(line)).toBe(true);
    const types = lines.filter((l) => l.startsWith("# TYPE"));
    expect(new Set(types).size).toBe(types.length);
    expect(text.endsWith("\n")).toBe(true);
  });

  test("values, labels, camelCase names and maps come out as expected", () => {
    const text = renderMetrics({ ticks: ring, users: cache }, { prefix: "app" });
    expect(text).toContain('app_appends{structure="ticks"} 10');
    expect(text).toContain('app_lap_reads{structure="ticks"} 2');
    expect(text).toContain('app_open{structure="ticks"} 1');
    expect(text).toContain('app_evictions{structure="users",kind="capacity"} 3');
    expect(text).toContain('app_evictions{structure="users",kind="expired"} 1');
    expect(text).not.toContain("ignored");
  });

  test("label values are escaped", () => {
    expect(renderMetrics({ 'a"b\\c': ring })).toContain('structure="a\\"b\\\\c"');
  });

  test("no sources, no lines", () => {
    expect(renderMetrics({})).toBe("");
  });
});

describe("metricsHandler", () => {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: metricsHandler({ ticks: ring }) });
  afterAll(() => server.stop(true));

  test("serves /metrics as Prometheus text and 404 elsewhere", async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(await res.text()).toContain('offheap_appends{structure="ticks"} 10');
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });
});
