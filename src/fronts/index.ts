import { chatFront } from './chat/index.js';
import { completionsFront } from './completions/index.js';
import { embeddingsFront } from './embeddings/index.js';
import type { Front } from './front.js';
import { countTokensFront, messagesFront } from './messages/index.js';
import { responsesFront } from './responses/index.js';

/** Every inbound API the server serves (see front.ts for the contract). One line per front. */
export const fronts: readonly Front[] = [chatFront, responsesFront, messagesFront, countTokensFront, completionsFront, embeddingsFront];
