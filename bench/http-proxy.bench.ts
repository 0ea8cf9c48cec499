/**
 * The HTTP face end to end: cache-hit throughput of `Bun.serve({ fetch: cache.handler(origin) })`
 * beside nginx `proxy_cache` in front of the same origin, with the same load generator
 * (`wrk`, keep-alive), 1 KiB and 64 KiB bodies. Each side is one process with one worker
 * (nginx `worker_processes 1`), so both get the same CPU; the origin and wrk run in
 * processes of their own. Every request is a cache hit after one warm-up request.
 *
 * Needs `nginx` and `wrk` (Debian: apt-get install nginx wrk). Run: bun bench/http-proxy.bench.ts
 * (`--seconds N` per run, default 10; `--connections N`, default 32).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../test/helpers/servers.ts";

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
const [originPort, oursPort, nginxPort] = [await freePort(), await freePort(), await freePort()];
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
const cache = new TieredCache({ tiers: [new MemoryStore({ maxBytes: 64 << 20 })] });
Bun.serve({ hostname: "127.0.0.1", port: ${oursPort}, fetch: cache.handler("http://127.0.0.1:${originPort}") });`,
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
  const ours = `http://127.0.0.1:${oursPort}`;
  const nginx = `http://127.0.0.1:${nginxPort}`;
  await waitFor(`http://127.0.0.1:${originPort}/1k`);
  await waitFor(`${ours}/1k`);
  await waitFor(`${nginx}/1k`);
  for (const path of ["/1k", "/64k"]) {
    // Warm both caches, and check the second answer is a hit on each side.
    for (let i = 0; i < 3; i++) await Promise.all([fetch(ours + path).then((r) => r.arrayBuffer()), fetch(nginx + path).then((r) => r.arrayBuffer())]);
    const a = await fetch(ours + path);
    const b = await fetch(nginx + path);
    await a.arrayBuffer();
    await b.arrayBuffer();
    if (!a.headers.get("cache-status")?.includes("hit") || b.headers.get("x-cache-status") !== "HIT") throw new Error(`${path} is not a hit on both sides: ${a.headers.get("cache-status")} / ${b.headers.get("x-cache-status")}`);
  }
  const rows: string[] = [];
  for (const path of ["/1k", "/64k"]) {
    // Interleave: ours, nginx, ours, nginx; report the better of each side's two runs.
    const runs: Record<"ours" | "nginx", Result[]> = { ours: [], nginx: [] };
    for (let round = 0; round < 2; round++) {
      runs.ours.push(await wrk(`http://127.0.0.1:${oursPort}${path}`));
      runs.nginx.push(await wrk(`http://127.0.0.1:${nginxPort}${path}`));
    }
    const best = (rs: Result[]) => rs.reduce((x, y) => (y.rps > x.rps ? y : x));
    const o = best(runs.ours);
    const n = best(runs.nginx);
    rows.push(`| cache hit, ${path.slice(1).toUpperCase().replace("K", " KiB")} | ${Math.round(o.rps).toLocaleString("en")} req/s (p50 ${o.p50}, p99 ${o.p99}) | ${Math.round(n.rps).toLocaleString("en")} req/s (p50 ${n.p50}, p99 ${n.p99}) | ${(o.rps / n.rps).toFixed(2)}× |`);
  }
  console.log(`\n### HTTP proxy cache hits: offheap handler vs nginx proxy_cache`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ")}, ${Math.round(totalmem() / 2 ** 30)} GiB, Bun ${Bun.version}, load average ${loadavg()[0]!.toFixed(2)}; wrk -t1 -c${connections} -d${seconds}s, keep-alive; one process / one worker each\n`);
  console.log("| work | offheap (Bun.serve + cache.handler) | nginx proxy_cache | ratio |");
  console.log("|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
}
