/**
 * Timers that need not be exact: a request's total timeout, the keep-alive ping while a stream
 * waits for its first token. One sweep serves them all, instead of a node timer per request: a
 * node timer per request cost several per cent of a request's CPU, since at low concurrency each
 * one made and dropped its duration's whole timer list (bench/PROFILE.md, "timers").
 *
 * A timer fires once, after its `ms` and at most one tick later. The tick is a hundredth of the
 * shortest `ms` asked for since the sweep started, at least 10 ms and at most 1 s. The sweep is
 * unref'd, so it never keeps the process alive, and it stops once nothing has been pending for
 * IDLE_STOP_MS: an idle gateway does not wake up for it.
 */
export class CoarseTimer {
  constructor(
    /** When it is due, as Date.now() counts. */
    readonly due: number,
    private readonly fire: () => void,
  ) {}

  /** Runs it (once it is due; the sweep has taken it off). */
  run(): void {
    this.fire();
  }

  cancel(): void {
    pending.delete(this);
  }
}

const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;
const IDLE_STOP_MS = 5000;

const pending = new Set<CoarseTimer>();
let sweep: NodeJS.Timeout | undefined;
let tick = Infinity;
/** When the sweep last saw a timer pending. */
let lastBusy = 0;

/** Calls `fire` once, `ms` (up to a tick more) from now, unless cancelled first. */
export function coarseTimeout(ms: number, fire: () => void): CoarseTimer {
  const timer = new CoarseTimer(Date.now() + ms, fire);
  pending.add(timer);
  const wanted = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(ms / 100)));
  if (wanted < tick) {
    tick = wanted;
    if (sweep !== undefined) clearInterval(sweep);
    sweep = setInterval(runDue, tick);
    sweep.unref();
    lastBusy = Date.now();
  }
  return timer;
}

function runDue(): void {
  const now = Date.now();
  if (pending.size === 0) {
    if (now - lastBusy >= IDLE_STOP_MS) {
      clearInterval(sweep);
      sweep = undefined;
      tick = Infinity;
    }
    return;
  }
  lastBusy = now;
  // A timer set by one that fires here is due later than now: the loop passes over it.
  for (const timer of pending) {
    if (timer.due > now) continue;
    pending.delete(timer);
    timer.run();
  }
}
