/** Test helpers shared by every structure's tests. */
export { tempDir, type TempDir } from "./temp.ts";
export { Child, ROOT, runScript, runScriptAs, writeScript } from "./child.ts";
export { crashRun, seededRandom, type CrashOptions, type CrashResult } from "./crash.ts";
export { codeOf, codeOfAsync, expectCode, thrown } from "./errors.ts";
export { bytes, chunkedStream, pattern, text } from "./streams.ts";
export { dirSnapshot, flipByte, patchFile } from "./files.ts";
export { canMount, fillDisk, tinyFilesystem, type TinyFilesystem } from "./tmpfs.ts";
export { deferred, until } from "./async.ts";
