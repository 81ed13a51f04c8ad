/**
 * The byte buffer RowBinary rows are written into (see rowBinary.ts): little-endian numbers, varint
 * lengths, UTF-8 strings.
 */

/** A growing byte buffer; `take` copies out what was written, as a buffer of its own (transferable). */
export class ByteWriter {
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written since the last `take`, in a new ArrayBuffer; the writer starts over. */
  take(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** A String: its UTF-8 length, then its bytes. */
  string(s: string): void {
    const n = s.length;
    if (n < 43) {
      // At most 126 bytes: the length is one byte, written once the bytes are.
      this.ensure(1 + 3 * n);
      const start = this.pos + 1;
      let at = start;
      const buf = this.buf;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          at = start + buf.write(s, start, 'utf8');
          break;
        }
        buf[at++] = c;
      }
      buf[this.pos] = at - start;
      this.pos = at;
      return;
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A String from raw bytes (a Kafka key is kept byte for byte). */
  bytes(b: Uint8Array): void {
    this.bytesOf(b, 0, b.length);
  }

  /** `bytes` of `b`'s bytes from start to end, without a view of them. */
  bytesOf(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.varint(n);
    this.ensure(n);
    // A part of `b` is copied here by hand when short (keys are): setting it from a subarray, or
    // Buffer#copy of a part, makes a view first.
    if (start === 0 && end === b.length) this.buf.set(b, this.pos);
    else if (n > 64) this.buf.set(b.subarray(start, end), this.pos);
    else for (let i = 0, out = this.buf, at = this.pos; i < n; i++) out[at + i] = b[start + i]!;
    this.pos += n;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }

  i8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos++);
  }

  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16LE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
  }

  /** A 64-bit integer from a number in 0 .. 2^53 (no BigInt on the way). */
  u64FromSafe(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos + 4);
    this.pos += 8;
  }

  /** A 64-bit integer from its decimal text (as 64-bit columns and Kafka offsets carry them). */
  i64Text(text: string, signed: boolean): void {
    const n = Number(text);
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) return this.u64FromSafe(n);
    // BigInt refuses what is not an integer's text; the write, what is out of range.
    this.ensure(8);
    if (signed) this.buf.writeBigInt64LE(BigInt(text), this.pos);
    else this.buf.writeBigUInt64LE(BigInt(text), this.pos);
    this.pos += 8;
  }

  /** A two's-complement integer of `size` bytes (Decimal128 and wider). */
  bigint(v: bigint, size: number): void {
    this.ensure(size);
    let x = BigInt.asUintN(size * 8, v);
    for (let i = 0; i < size; i++) {
      this.buf[this.pos++] = Number(x & 0xffn);
      x >>= 8n;
    }
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}
