export function cpuSeconds(pid: number): number;
export function mainThreadCpuSeconds(pid: number): number;
