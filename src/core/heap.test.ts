import { describe, expect, it } from 'vitest';
import { CONTAINER_HEAP_FLAGS, heapSizedByContainer } from './heap.js';

const MiB = 1024 * 1024;

describe('heapSizedByContainer', () => {
  it('names the memory limit and heap limit when Node sized the heap from a container', () => {
    // What Node 20 gave in a 512 MiB memory cgroup here: a 259 MiB heap limit.
    expect(heapSizedByContainer(512 * MiB, 259 * MiB, [], undefined)).toEqual({
      memoryLimitMiB: 512,
      heapLimitMiB: 259,
    });
    expect(heapSizedByContainer(1024 * MiB, 524 * MiB, ['--enable-source-maps'], '--trace-warnings')).toEqual(
      {
        memoryLimitMiB: 1024,
        heapLimitMiB: 524,
      },
    );
  });

  it('is quiet without a limit, with a full-sized heap, or when a heap flag was given', () => {
    expect(heapSizedByContainer(0, 259 * MiB, [], undefined)).toBeUndefined();
    expect(heapSizedByContainer(undefined, 259 * MiB, [], undefined)).toBeUndefined();
    // Unconstrained on a 24 GiB machine: 4,144 MiB.
    expect(heapSizedByContainer(16384 * MiB, 4144 * MiB, [], undefined)).toBeUndefined();
    for (const flag of ['--max-old-space-size=1024', '--max_semi_space_size=16', '--max-semi-space-size']) {
      expect(heapSizedByContainer(512 * MiB, 259 * MiB, [flag], undefined), flag).toBeUndefined();
      expect(heapSizedByContainer(512 * MiB, 259 * MiB, [], `--trace-gc ${flag}`), flag).toBeUndefined();
    }
    expect(heapSizedByContainer(512 * MiB, 259 * MiB, [...CONTAINER_HEAP_FLAGS], undefined)).toBeUndefined();
  });

  it('does not take other flags that merely start alike for heap flags', () => {
    expect(
      heapSizedByContainer(512 * MiB, 259 * MiB, ['--max-old-space-size-percentage=50'], undefined),
    ).toEqual({
      memoryLimitMiB: 512,
      heapLimitMiB: 259,
    });
  });
});
