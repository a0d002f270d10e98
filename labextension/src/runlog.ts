/**
 * The log of one stage, followed: read from an offset (runs/{id}/logs/{stage}?offset=N
 * answers whole lines and where to ask next), kept to its last ``maxChars`` characters so
 * a long log never grows the page without end. Pure: no DOM, no JupyterLab.
 */

import type { LogChunk } from './api';

/** What taking a chunk found. */
export type LogTake =
  /** Lines were added (or none: nothing new yet). */
  | 'ok'
  /** The chunk is of another attempt than the one followed: ask again from offset 0. */
  | 'again';

export const MAX_LOG_CHARS = 64 * 1024;

export class LogTail {
  /** The attempt whose log is shown (0: none read yet). */
  attempt = 0;
  /** Where the next read starts. */
  offset = 0;
  /** The stage is done and everything was read: no need to ask again. */
  finished = false;
  /** Lines were cut from the top to keep the tail under ``maxChars``. */
  cut = false;
  private body = '';

  constructor(
    readonly stage: string,
    readonly maxChars = MAX_LOG_CHARS
  ) {}

  get text(): string {
    return this.body;
  }

  /** Take the answer of a read from ``offset``. */
  take(chunk: LogChunk): LogTake {
    if (chunk.attempt !== this.attempt) {
      const first = this.attempt === 0;
      this.attempt = chunk.attempt;
      this.offset = 0;
      this.finished = false;
      if (!first && this.body) {
        this.append(`--- attempt ${chunk.attempt} ---\n`);
      }
      if (chunk.offset !== 0) {
        return 'again'; // it was read from the old attempt's offset
      }
    }
    this.append(chunk.text);
    this.offset = chunk.next_offset;
    this.finished = chunk.finished;
    return 'ok';
  }

  private append(text: string): void {
    if (!text) {
      return;
    }
    let body = this.body + text;
    if (body.length > this.maxChars) {
      // cut at a line start, so the first line shown is whole
      const from = body.length - this.maxChars;
      const newline = body.indexOf('\n', from);
      body = newline === -1 ? body.slice(from) : body.slice(newline + 1);
      this.cut = true;
    }
    this.body = body;
  }
}
