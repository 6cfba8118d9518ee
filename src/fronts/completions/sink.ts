import type { ChunkEvent, FramesEvent } from '../../core/events.js';
import { toTextChunk } from '../../providers/text-completions.js';
import { frame } from '../../streaming/sse-writer.js';
import { ChatStyleSseSink, tallyChunk } from '../chat/sink.js';

/**
 * The legacy completions stream: each chat chunk the text-completions adapter carried goes out
 * as the `text_completion` chunk it came from. Usage reaches the client only if it asked.
 */
export class TextCompletionSseSink extends ChatStyleSseSink {
  write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined {
    let out = '';
    for (const event of events) {
      // The adapter hands over parsed chunks only (it never forwards frames as bytes).
      if (event.type !== 'chunk' || event.chunk === undefined) continue;
      const chunk = event.chunk;
      tallyChunk(chunk, this.finished, this.record);
      const text = toTextChunk(chunk);
      if (chunk.usage) {
        if (!this.wantsUsage) {
          // Sluice asked for usage for its own accounting; a client that did not ask never sees it.
          if (chunk.choices.length === 0) continue;
          delete text.usage;
        }
      }
      out += frame(JSON.stringify(text));
    }
    return out === '' ? undefined : this.writer.write(out);
  }
}
