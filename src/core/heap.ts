const MiB = 1024 * 1024;

/** The flags that size V8's heap. Given either, the heap's size is the user's choice, and no warning. */
const HEAP_FLAG = /^--max[-_](old|semi)[-_]space[-_]size(=|$)/;

/**
 * Below this heap limit, V8's young generation is under its largest (16 MiB semi-spaces) and its
 * old generation may grow less between full collections.
 */
const FULL_SIZED_HEAP_BYTES = 2048 * MiB;

export interface ContainerHeap {
  readonly memoryLimitMiB: number;
  readonly heapLimitMiB: number;
}

/**
 * Whether Node sized V8's heap from the container's memory limit (`constrainedBytes`, from
 * `process.constrainedMemory()`): a limit is set, the heap came out under V8's full sizes, and no
 * heap flag was given on the command line (`execArgv`) or in `NODE_OPTIONS`. In a 512 MiB
 * container Node gives the main thread 1 MiB semi-spaces instead of 16, and the pipeline caught up
 * 30-39% slower with the server store (README, "In a container").
 */
export function heapSizedByContainer(
  constrainedBytes: number | undefined,
  heapLimitBytes: number,
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): ContainerHeap | undefined {
  if (!constrainedBytes || heapLimitBytes >= FULL_SIZED_HEAP_BYTES) return undefined;
  const flags = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  if (flags.some((f) => HEAP_FLAG.test(f))) return undefined;
  return {
    memoryLimitMiB: Math.round(constrainedBytes / MiB),
    heapLimitMiB: Math.round(heapLimitBytes / MiB),
  };
}

/** The flags the container image starts node with (Dockerfile), and what the warning suggests. */
export const CONTAINER_HEAP_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=4096'] as const;
