/**
 * The HTTP face end to end: cache-hit throughput of `Bun.serve({ fetch: cache.handler(origin) })`
 * beside nginx `proxy_cache` in front of the same origin, with the same load generator
 * (`wrk`, keep-alive), 1 KiB and 64 KiB bodies. Each side is one process with one worker
 * (nginx `worker_processes 1`), so both get the same CPU; the origin and wrk run in
 * processes of their own. Every request is a cache hit after one warm-up request.
 *
 * Ours runs with default options: `new TieredCache({ tiers: [new MemoryStore()] })`. nginx
 * keeps its cache in files (with the keys in shared memory), so a second offheap server
 * with a FileStore tier (default options) runs as an extra row, the closer match to
 * nginx's storage. Both caches take freshness from the origin's `max-age=3600`; each side's
 * hit is checked (status header) and its body length compared with the origin's.
 *
 * Needs `nginx` and `wrk` (Debian: apt-get install nginx wrk). Run: bun bench/http-proxy.bench.ts
 * (`--seconds N` per run, default 10; `--connections N`, default 32).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../test/helpers/servers.ts";
import { describeSides, machine, printBudgets, sidesBlock } from "./lib/report.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "32" } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);

for (const tool of ["nginx", "wrk"]) {
  if (Bun.which(tool) === null) {
    console.error(`${tool} is not installed: apt-get install -y nginx wrk`);
    process.exit(2);
  }
}


async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fetch(url).then((r) => r.arrayBuffer().then(() => true), () => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not answer`);
}

const work = mkdtempSync(join(tmpdir(), "offheap-bench-http-"));
const [originPort, oursPort, oursFilePort, nginxPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
describeSides({
  ours: "Bun.serve({ fetch: cache.handler(origin) }), TieredCache({ tiers: [new MemoryStore()] }) default options, one process",
  "ours (file)": "the same with tiers: [FileStore.open(dir)] (default options): an extra row, storage like nginx's",
  nginx: "nginx proxy_cache (files under levels=1:2, keys_zone 16m, use_temp_path=off; sendfile off, the default), worker_processes 1, upstream keepalive 16, access_log off",
  work: `wrk -t1 -c${connections} -d${seconds}s keep-alive against each in turn, twice (the better run counts); one origin (Bun.serve, cache-control: public, max-age=3600, an ETag); 1 KiB and 64 KiB bodies, every request a hit`,
});
const ROOT = join(import.meta.dir, "..");

const originScript = join(work, "origin.ts");
writeFileSync(
  originScript,
  `const bodies = { "/1k": "x".repeat(1024), "/64k": "y".repeat(64 * 1024) };
Bun.serve({ hostname: "127.0.0.1", port: ${originPort}, fetch(req) {
  const body = bodies[new URL(req.url).pathname];
  return body === undefined ? new Response("no", { status: 404 }) : new Response(body, { headers: { "cache-control": "public, max-age=3600", "content-type": "text/plain", etag: '"v1"' } });
} });`,
);
const oursScript = join(work, "ours.ts");
writeFileSync(
  oursScript,
  `import { MemoryStore, TieredCache } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
const cache = new TieredCache({ tiers: [new MemoryStore()] });
Bun.serve({ hostname: "127.0.0.1", port: ${oursPort}, fetch: cache.handler("http://127.0.0.1:${originPort}") });`,
);
const oursFileScript = join(work, "ours-file.ts");
writeFileSync(
  oursFileScript,
  `import { FileStore, TieredCache } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
const cache = new TieredCache({ tiers: [FileStore.open(${JSON.stringify(join(work, "ours-file-cache"))})] });
Bun.serve({ hostname: "127.0.0.1", port: ${oursFilePort}, fetch: cache.handler("http://127.0.0.1:${originPort}") });`,
);
const nginxConf = join(work, "nginx.conf");
writeFileSync(
  nginxConf,
  `${process.getuid?.() === 0 ? "user root;\n" : ""}worker_processes 1;
daemon off;
pid ${join(work, "nginx.pid")};
error_log ${join(work, "nginx-error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  proxy_cache_path ${join(work, "nginx-cache")} levels=1:2 keys_zone=c:16m max_size=256m inactive=1h use_temp_path=off;
  client_body_temp_path ${join(work, "nginx-body")};
  proxy_temp_path ${join(work, "nginx-proxy")};
  fastcgi_temp_path ${join(work, "nginx-fastcgi")};
  uwsgi_temp_path ${join(work, "nginx-uwsgi")};
  scgi_temp_path ${join(work, "nginx-scgi")};
  upstream origin { server 127.0.0.1:${originPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache c;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}`,
);

const procs = [
  Bun.spawn([process.execPath, originScript], { stdout: "ignore", stderr: "inherit" }),
  Bun.spawn([process.execPath, oursScript], { stdout: "ignore", stderr: "inherit" }),
  Bun.spawn([process.execPath, oursFileScript], { stdout: "ignore", stderr: "inherit" }),
  Bun.spawn(["nginx", "-c", nginxConf, "-p", work], { stdout: "ignore", stderr: "inherit" }),
];

interface Result {
  rps: number;
  p50: string;
  p99: string;
}

async function wrk(url: string): Promise<Result> {
  const p = Bun.spawn(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? "?";
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors against ${url}:\n${out}`);
  return { rps, p50, p99 };
}

try {
  const sides = { ours: `http://127.0.0.1:${oursPort}`, "ours (file)": `http://127.0.0.1:${oursFilePort}`, nginx: `http://127.0.0.1:${nginxPort}` };
  await waitFor(`http://127.0.0.1:${originPort}/1k`);
  for (const url of Object.values(sides)) await waitFor(`${url}/1k`);
  for (const path of ["/1k", "/64k"]) {
    // Warm every cache, then check the next answer is a hit with the origin's whole body.
    const expected = (await (await fetch(`http://127.0.0.1:${originPort}${path}`)).arrayBuffer()).byteLength;
    for (let i = 0; i < 3; i++) await Promise.all(Object.values(sides).map((u) => fetch(u + path).then((r) => r.arrayBuffer())));
    for (const [side, url] of Object.entries(sides)) {
      const r = await fetch(url + path);
      const length = (await r.arrayBuffer()).byteLength;
      const hit = side === "nginx" ? r.headers.get("x-cache-status") === "HIT" : (r.headers.get("cache-status") ?? "").includes("hit");
      if (!hit || length !== expected) throw new Error(`${side} ${path}: not a hit with ${expected} bytes (status ${r.headers.get("cache-status") ?? r.headers.get("x-cache-status")}, ${length} bytes)`);
    }
  }
  const rows: string[] = [];
  for (const path of ["/1k", "/64k"]) {
    // Interleave the sides, twice; report the better of each side's two runs.
    const runs: Record<string, Result[]> = { ours: [], "ours (file)": [], nginx: [] };
    for (let round = 0; round < 2; round++) for (const [side, url] of Object.entries(sides)) runs[side]!.push(await wrk(url + path));
    const best = (rs: Result[]) => rs.reduce((x, y) => (y.rps > x.rps ? y : x));
    const o = best(runs.ours!);
    const f = best(runs["ours (file)"]!);
    const n = best(runs.nginx!);
    const cell = (r: Result) => `${Math.round(r.rps).toLocaleString("en")} req/s (p50 ${r.p50}, p99 ${r.p99})`;
    rows.push(`| cache hit, ${path.slice(1).toUpperCase().replace("K", " KiB")} | ${cell(o)} | ${cell(n)} | ${(o.rps / n.rps).toFixed(2)}× | ${cell(f)} | ${(f.rps / n.rps).toFixed(2)}× |`);
  }
  console.log(`\n### HTTP proxy cache hits: offheap handler vs nginx proxy_cache`);
  console.log(`machine: ${machine()}`);
  console.log([...sidesBlock(), ""].join("\n"));
  console.log("| work | offheap (Bun.serve + cache.handler, MemoryStore) | nginx proxy_cache | ratio (ours / nginx) | extra: offheap with a FileStore | ratio (file / nginx) |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  printBudgets([], "the design doc sets no budget for proxy throughput; it is reported beside nginx proxy_cache (the conformance budget is in bench/http-conformance.ts)");
} finally {
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
}
