/** Positional reads from a file descriptor into fresh, aligned memory. */
import fs from 'node:fs';

const CHUNK = 1 << 30; // readSync takes at most ~2 GiB per call

export class FileSource {
  readonly size: number;
  private fd: number | undefined;

  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'r');
    try {
      this.size = fs.fstatSync(this.fd).size;
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  /**
   * Read exactly `length` bytes at `position` into a new Uint8Array (its own ArrayBuffer, offset 0,
   * so any typed-array view of it is aligned). Throws naming the file if the range is past EOF.
   */
  read(position: number, length: number, what = 'data'): Uint8Array {
    if (this.fd === undefined) throw new Error(`${this.path}: file is closed`);
    if (position < 0 || position + length > this.size) {
      throw new Error(
        `${this.path}: ${what} runs past the end of the file (needs bytes [${position}, ${position + length}), file is ${this.size} bytes; truncated?)`,
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, Math.min(CHUNK, length - done), position + done);
      if (n <= 0) throw new Error(`${this.path}: short read of ${what} at byte ${position + done}`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
