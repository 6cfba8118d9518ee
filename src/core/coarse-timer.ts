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
/** A pending coarse timer: all a caller can do with one is cancel it. */
export interface CoarseTimer {
  cancel(): void;
}

/** A timer in the pending list (a doubly linked list: see `first`). */
class PendingTimer implements CoarseTimer {
  prev: PendingTimer | undefined = undefined;
  next: PendingTimer | undefined = undefined;
  /** Whether it is in the list (not yet fired or cancelled). */
  pending = true;

  constructor(
    /** When it is due, as Date.now() counts. */
    readonly due: number,
    readonly fire: () => void,
  ) {
    this.next = first;
    if (first !== undefined) first.prev = this;
    first = this;
  }

  cancel(): void {
    if (!this.pending) return;
    this.pending = false;
    if (this.prev === undefined) first = this.next;
    else this.prev.next = this.next;
    if (this.next !== undefined) this.next.prev = this.prev;
    this.prev = undefined;
    this.next = undefined;
  }
}

const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;
const IDLE_STOP_MS = 5000;

/** The pending timers, a doubly linked list (an old-generation Set of short-lived timers kept them for the next full GC: bench/PROFILE.md, "timers"). */
let first: PendingTimer | undefined;
let sweep: NodeJS.Timeout | undefined;
let tick = Infinity;
/** When the sweep last saw a timer pending. */
let lastBusy = 0;

/** Calls `fire` once, `ms` (up to a tick more) from now, unless cancelled first. */
export function coarseTimeout(ms: number, fire: () => void): CoarseTimer {
  const timer = new PendingTimer(Date.now() + ms, fire);
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
  if (first === undefined) {
    if (now - lastBusy >= IDLE_STOP_MS) {
      clearInterval(sweep);
      sweep = undefined;
      tick = Infinity;
    }
    return;
  }
  lastBusy = now;
  // Off the list and fired after the walk: a firing may set or cancel others.
  let due: PendingTimer[] | undefined;
  for (let timer: PendingTimer | undefined = first; timer !== undefined; timer = timer.next) if (timer.due <= now) (due ??= []).push(timer);
  if (due === undefined) return;
  for (const timer of due) {
    if (!timer.pending) continue;
    timer.cancel();
    timer.fire();
  }
}
