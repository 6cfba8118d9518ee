// What the bench scripts read of a running process from /proc.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds a process has run: the sum of its threads' run time in /proc/<pid>/task/<tid>/schedstat,
 * in nanoseconds. /proc/<pid>/stat counts in clock ticks (10 ms), and a throughput slice takes about
 * 0.1 CPU-s, so ticks alone moved a slice's figure by up to 10 %. Node's threads (libuv's pool, V8's
 * platform workers) live as long as the process, so none of its time leaves with an exited thread.
 */
export function cpuSeconds(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += threadNs(pid, tid);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns / 1e9;
}

/** CPU seconds of a process's main thread alone (the event loop: JavaScript, and GC pauses), as cpuSeconds. */
export function mainThreadCpuSeconds(pid) {
  return threadNs(pid, pid) / 1e9;
}

function threadNs(pid, tid) {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}
