/**
 * The OS layer's costs: an FFI call, File.read against fs.readSync (4 KiB), DataView reads
 * on a Mapping against a heap buffer, and Bun.hash.crc32 against the crc-32 package.
 */
import CRC32 from "crc-32";
import { bench, do_not_optimize, group, run } from "mitata";
import { closeSync, openSync, readSync } from "node:fs";
import { File, Mapping } from "../ffi/index.ts";
import { tempDir } from "../test/helpers/temp.ts";
import { averages, describeSides, printBudgets, printRatios } from "./lib/report.ts";
import { dlopen, FFIType } from "bun:ffi";

using dir = tempDir("offheap-bench-");
describeSides({
  ours: "ffi/ File.read (pread through bun:ffi), a Mapping's DataView, Bun.hash.crc32; an FFI call of libc abs()",
  peers: "fs.readSync on the same file and offsets, a DataView on a heap ArrayBuffer of the same size, the crc-32 package, Math.abs",
  work: "4 KiB reads of a 1 MiB file in the page cache, 8 B DataView reads stepping through 1 MiB, CRC-32 of 64 B and 4 KiB",
});
const path = dir.file("data");
const file = File.open(path, { create: true });
file.write(new Uint8Array(1 << 20).fill(7), 0);
const fd = openSync(path, "r");
const block = new Uint8Array(4096);
const mapping = Mapping.file(file);
const mapped = new DataView(mapping.buffer);
const heap = new DataView(new ArrayBuffer(1 << 20));
const small = new Uint8Array(64).fill(3);
const page = new Uint8Array(4096).fill(5);
const { symbols: libc } = dlopen("libc.so.6", { abs: { args: [FFIType.i32], returns: FFIType.i32 } });
let offset = 0;

group("FFI call", () => {
  bench("ffi abs()", () => do_not_optimize(libc.abs(-5)));
  bench("Math.abs", () => do_not_optimize(Math.abs(-5)));
});

group("read 4 KiB from page cache", () => {
  bench("File.read", () => {
    offset = (offset + 4096) & ((1 << 20) - 1);
    do_not_optimize(file.read(block, offset));
  });
  bench("fs.readSync", () => {
    offset = (offset + 4096) & ((1 << 20) - 1);
    do_not_optimize(readSync(fd, block, 0, 4096, offset));
  });
});

group("DataView getFloat64", () => {
  bench("on a Mapping", () => {
    offset = (offset + 8) & ((1 << 20) - 1);
    do_not_optimize(mapped.getFloat64(offset, true));
  });
  bench("on a heap ArrayBuffer", () => {
    offset = (offset + 8) & ((1 << 20) - 1);
    do_not_optimize(heap.getFloat64(offset, true));
  });
});

group("CRC-32", () => {
  bench("Bun.hash.crc32 64 B", () => do_not_optimize(Bun.hash.crc32(small)));
  bench("crc-32 64 B", () => do_not_optimize(CRC32.buf(small)));
  bench("Bun.hash.crc32 4 KiB", () => do_not_optimize(Bun.hash.crc32(page)));
  bench("crc-32 4 KiB", () => do_not_optimize(CRC32.buf(page)));
});

const avg = averages(await run());
printRatios("ffi/ layer", avg, [
  { ours: "File.read", peer: "fs.readSync" },
  { ours: "on a Mapping", peer: "on a heap ArrayBuffer" },
  { ours: "Bun.hash.crc32 64 B", peer: "crc-32 64 B" },
  { ours: "Bun.hash.crc32 4 KiB", peer: "crc-32 4 KiB" },
  { ours: "ffi abs()", peer: "Math.abs" },
]);
mapping.close();
file.close();
closeSync(fd);
printBudgets([], "the design doc sets no budget for the OS layer; it is reported beside node:fs, heap buffers and crc-32");
