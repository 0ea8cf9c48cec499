/**
 * What ffi/'s Workers share: their sources are inline strings (a worker file path would
 * not exist inside a `bun build --compile` binary), each starting with the same libc
 * binding.
 */
import { C } from "./platform.ts";

/**
 * Worker source that binds libc into `lib` (undefined when no libc opens) with the
 * symbols `symbols` lists (bun:ffi declarations written as JS, `FFIType` in scope), plus
 * the platform's errno accessor, which `errno()` reads. `dlopen`, `FFIType` and `read`
 * are imported.
 */
export function libcPrelude(symbols: string): string {
  const errno = JSON.stringify(C.errnoSymbol);
  return `
import { dlopen, FFIType, read } from "bun:ffi";
let lib;
for (const name of ${JSON.stringify(C.libcNames)}) {
  try {
    lib = dlopen(name, {
      ${symbols}
      ${errno}: { args: [], returns: FFIType.ptr },
    });
    break;
  } catch {}
}
const errno = () => read.i32(lib.symbols[${errno}](), 0);
`;
}

const urls = new Map<string, string>();

/** A URL a Worker can be started from for `source` (made once per source). */
export function workerUrl(source: string): string {
  let url = urls.get(source);
  if (url === undefined) {
    url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
    urls.set(source, url);
  }
  return url;
}
