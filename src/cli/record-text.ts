/**
 * How `tail` prints a record's bytes: one line each whatever the bytes are. Text keeps
 * readable UTF-8 readable and escapes the rest; JSON is lossless.
 */

const HEX = "0123456789abcdef";

/** Length of the valid UTF-8 sequence starting at `i`, or 0 (overlong, surrogate, cut, stray byte). */
function utf8Length(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const second = b[i + 1]!;
    if (lead === 0xe0 && second < 0xa0) return 0; // overlong
    if (lead === 0xed && second >= 0xa0) return 0; // a surrogate
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const second = b[i + 1]!;
    if (lead === 0xf0 && second < 0x90) return 0; // overlong
    if (lead === 0xf4 && second >= 0x90) return 0; // past U+10FFFF
    return 4;
  }
  return 0;
}

function escapeByte(byte: number): string {
  switch (byte) {
    case 0x0a:
      return "\\n";
    case 0x09:
      return "\\t";
    case 0x0d:
      return "\\r";
    case 0x5c:
      return "\\\\";
    default:
      return `\\x${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
}

const decoder = new TextDecoder();

/**
 * `data` as one line of text: printable ASCII and valid UTF-8 as they are; `\`, control
 * characters and bytes that aren't UTF-8 as `\\`, `\n`, `\t`, `\r`, `\xNN`. Distinct
 * records give distinct lines, and the bytes can be recovered from the line.
 */
export function recordText(data: Uint8Array): string {
  let out = "";
  let run = 0; // start of the current run of bytes printed as they are
  const flush = (end: number) => {
    if (end > run) out += decoder.decode(data.subarray(run, end));
  };
  for (let i = 0; i < data.length; ) {
    const byte = data[i]!;
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) {
      i++;
      continue;
    }
    const n = byte >= 0x80 ? utf8Length(data, i) : 0;
    // C1 controls (U+0080–U+009F, encoded c2 80–c2 9f) would move a terminal's cursor too.
    if (n > 0 && !(byte === 0xc2 && data[i + 1]! < 0xa0)) {
      i += n;
      continue;
    }
    flush(i);
    out += escapeByte(byte);
    i++;
    run = i;
  }
  flush(data.length);
  return out;
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `data` for JSON, losslessly: `{ utf8 }` when it is valid UTF-8, else `{ base64 }`. */
export function recordJson(data: Uint8Array): { utf8: string } | { base64: string } {
  try {
    return { utf8: strict.decode(data) };
  } catch {
    return { base64: Buffer.from(data).toString("base64") };
  }
}
