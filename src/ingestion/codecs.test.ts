import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { registerCompressionCodecs } from './codecs.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

describe('compression codecs', () => {
  registerCompressionCodecs();
  const codec = (type: number) =>
    (
      CompressionCodecs as Record<
        number,
        () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> }
      >
    )[type]!();

  it('round-trips Snappy', async () => {
    const data = Buffer.from(JSON.stringify({ text: 'abc'.repeat(1000) }));
    const snappy = codec(CompressionTypes.Snappy);
    const packed = await snappy.compress({ buffer: data });
    expect(packed.length).toBeLessThan(data.length);
    expect((await snappy.decompress(packed)).equals(data)).toBe(true);
  });

  it('refuses to write LZ4 and zstd, naming the codec', async () => {
    await expect(codec(CompressionTypes.LZ4).compress({ buffer: Buffer.from('x') })).rejects.toThrow(
      /LZ4 compression is read here, not written/,
    );
    await expect(codec(CompressionTypes.ZSTD).compress({ buffer: Buffer.from('x') })).rejects.toThrow(
      /zstd compression is read here, not written/,
    );
  });
});
