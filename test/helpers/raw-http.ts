import { connect } from 'node:net';

export interface RawResponse {
  /** The status line and headers, as sent. */
  head: string;
  /** The body with the chunked framing removed, every byte up to the terminating `0` chunk. */
  body: string;
  /** Whether the terminating `0` chunk arrived. */
  terminated: boolean;
  /** Bytes after the terminating chunk: none, on a connection the server closes. */
  trailing: string;
}

/**
 * POSTs a JSON body over a plain socket with `connection: close` and reads every byte until the
 * server closes it, then undoes the chunked framing by hand. Unlike fetch, which stops at the first
 * `0` chunk, this sees chunks sent after it (how a misordered end looks on the wire).
 */
export async function rawPost(url: string, path: string, body: unknown): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`);
      socket.write(payload);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  return parseChunked(bytes);
}

/** Splits a raw HTTP/1.1 response into head, de-chunked body, and whatever follows the last chunk. */
export function parseChunked(bytes: Buffer): RawResponse {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no complete response head in ${JSON.stringify(bytes.toString('latin1'))}`);
  const head = bytes.subarray(0, headEnd).toString('latin1');
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) throw new Error(`not a chunked response: ${head}`);
  const parts: Buffer[] = [];
  let at = headEnd + 4;
  let terminated = false;
  while (at < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error(`a chunk size line cut short at byte ${at}`);
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size)) throw new Error(`a bad chunk size at byte ${at}`);
    at = lineEnd + 2;
    if (size === 0) {
      // No trailers are sent: the terminating chunk is `0\r\n\r\n`.
      if (bytes.subarray(at, at + 2).toString('latin1') !== '\r\n') throw new Error(`a bad terminating chunk at byte ${at}`);
      at += 2;
      terminated = true;
      break;
    }
    if (at + size + 2 > bytes.length) throw new Error(`a chunk of ${size} bytes cut short at byte ${at}`);
    parts.push(bytes.subarray(at, at + size));
    at += size;
    if (bytes.subarray(at, at + 2).toString('latin1') !== '\r\n') throw new Error(`no CRLF after the chunk ending at byte ${at}`);
    at += 2;
  }
  return { head, body: Buffer.concat(parts).toString('utf8'), terminated, trailing: bytes.subarray(at).toString('utf8') };
}

/** The `data:` payloads of an SSE body, in order (comments such as `: ping` left out). */
export function dataPayloads(body: string): string[] {
  return body
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}
