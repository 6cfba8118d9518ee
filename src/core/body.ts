/**
 * An upstream body being read: what the SSE parser and the body readers need of an upstream
 * response, so that they do not depend on the network client that produced it.
 */
export interface BodySource {
  body: AsyncIterable<Uint8Array>;
  /** Whether more body bytes are already buffered (read on before handing a batch over). */
  buffered(): boolean;
  /** What an error thrown while reading `body` means (idle timeout, reset), as a SluiceError. */
  bodyError(err: unknown): unknown;
}

/** The next read of a body; a failure (idle timeout, reset) comes out as `source.bodyError` says. */
export function nextBytes(reader: AsyncIterator<Uint8Array>, source: BodySource): Promise<IteratorResult<Uint8Array>> {
  // A plain promise chain, not an async function: this runs once per upstream read.
  return reader.next().then(undefined, (err: unknown) => {
    throw source.bodyError(err);
  });
}
