// Untyped dependencies: only what this project calls.

declare module 'kafkajs-snappy' {
  /** A kafkajs codec factory for Snappy (raw, and Java's xerial framing). */
  const SnappyCodec: () => {
    compress(encoder: { buffer: Buffer }): Promise<Buffer>;
    decompress(buffer: Buffer): Promise<Buffer>;
  };
  export default SnappyCodec;
}

declare module 'lz4js' {
  /** LZ4 frame format. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array | number[];
}
