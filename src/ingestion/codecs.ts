import kafkajs from 'kafkajs';
import { decompress as zstdDecompress } from 'fzstd';
import SnappyCodec from 'kafkajs-snappy';
import * as lz4 from 'lz4js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

const asBuffer = (bytes: Uint8Array | number[]): Buffer =>
  Array.isArray(bytes) ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

let registered = false;

const readOnly = (codec: string) => async (): Promise<Buffer> => {
  throw new Error(
    `${codec} compression is read here, not written: produce with gzip or snappy (or none) instead`,
  );
};

/**
 * kafkajs reads only gzip itself: a record batch in Snappy, LZ4 or zstd (what Java, librdkafka and
 * Go producers often write, and what a topic's `compression.type` makes the broker store) crashes
 * the consumer. This registers readers for all three, in plain JavaScript (no native build):
 * kafkajs-snappy (raw and Java's xerial framing; it writes raw Snappy, which the broker and the
 * Java consumer read), lz4js (LZ4 frames) and fzstd. LZ4 and zstd are not written: the broker
 * refuses lz4js' frames, and fzstd only decompresses. Nothing here produces with them anyway (dead
 * letters go out uncompressed).
 */
export function registerCompressionCodecs(): void {
  if (registered) return;
  registered = true;
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: readOnly('LZ4'),
    decompress: async (buffer: Buffer) => asBuffer(lz4.decompress(buffer)),
  });
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: readOnly('zstd'),
    decompress: async (buffer: Buffer) => asBuffer(zstdDecompress(buffer)),
  });
}
