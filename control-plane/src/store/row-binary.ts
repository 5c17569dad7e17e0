// ClickHouse's RowBinary input format (supported for INSERT over HTTP since long before 18.16): values
// in column order, little-endian numbers, strings as a LEB128 byte length then their UTF-8 bytes.
// Nothing is escaped, so no byte of a string can end a field or a row early, and ClickHouse copies
// values instead of parsing text.

/** Appends RowBinary values to a growing buffer. */
export class RowBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  /** @param capacity initial bytes (the buffer doubles when full). @default 64 KiB */
  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A String column: LEB128 length of the UTF-8 bytes, then the bytes (lone surrogates become U+FFFD). */
  string(value: string): void {
    // At most 3 UTF-8 bytes per UTF-16 unit; a short string's length fits one LEB128 byte, so it is
    // written in place and the length byte filled in after.
    const len = value.length;
    if (len < 128) {
      // Short ASCII (ids, regions, URLs: nearly every value) copied by hand: cheaper than a native
      // call per string. Stops at the first other character and leaves it to Buffer#write.
      this.reserve(len * 3 + 1);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.pos] = len;
        this.pos = start + len;
        return;
      }
    }
    const max = len * 3;
    if (max < 128) {
      this.reserve(max + 1);
      const n = this.buf.write(value, this.pos + 1, "utf8");
      this.buf[this.pos] = n;
      this.pos += n + 1;
      return;
    }
    const n = Buffer.byteLength(value, "utf8");
    this.reserve(n + 5);
    this.varUInt(n);
    this.pos += this.buf.write(value, this.pos, "utf8");
  }

  private varUInt(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /** A UInt8 column. */
  uint8(value: number): void {
    this.reserve(1);
    this.buf[this.pos++] = value;
  }

  /** A UInt32 column. */
  uint32(value: number): void {
    this.reserve(4);
    this.pos = this.buf.writeUInt32LE(value, this.pos);
  }

  /** A UInt64 column from a safe integer (callers check the range). */
  uint64(value: number): void {
    this.reserve(8);
    this.pos = this.buf.writeUInt32LE(value % 0x1_0000_0000, this.pos);
    this.pos = this.buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), this.pos);
  }

  /** A Float64 column; -0 is written as 0, as the text formats do. */
  float64(value: number): void {
    this.reserve(8);
    this.pos = this.buf.writeDoubleLE(value + 0, this.pos);
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
