/**
 * A server-sent event stream parsed from its text, chunk by chunk, as the HTML standard
 * says (https://html.spec.whatwg.org/multipage/server-sent-events.html, "Interpreting an
 * event stream"). The panel reads runs/{id}/events with fetch (the server's token and
 * cookie, as every request) instead of an EventSource, so it parses the stream itself.
 * Pure: no DOM, no JupyterLab.
 */

export interface SseMessage {
  /** The last event id seen so far (the stream's `id:` lines persist across events). */
  id: string | null;
  /** `event:`; "message" when the event named none. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
}

export class SseParser {
  /** The last `retry:` the server asked for (ms), null: none. */
  retry: number | null = null;
  /** Comment lines seen (`: keepalive`): the stream is alive even without events. */
  comments = 0;

  private pending = '';
  private skipLf = false;
  private data: string[] = [];
  private event = '';
  /** The `id:` buffer of the event being read, and the id of the last one dispatched. */
  private lastId: string | null = null;
  private dispatchedId: string | null = null;

  /** The events completed by ``chunk`` (a partial event waits for the next chunk). */
  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.skipLf && text) {
      if (text.startsWith('\n')) {
        text = text.slice(1); // the second half of a CRLF split across chunks
      }
      this.skipLf = false;
    }
    text = this.pending + text;
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    for (let found = ends.exec(text); found; found = ends.exec(text)) {
      this.line(text.slice(start, found.index), out);
      start = found.index + found[0].length;
      if (found[0] === '\r' && start === text.length) {
        this.skipLf = true; // a LF may start the next chunk
      }
    }
    this.pending = text.slice(start);
    return out;
  }

  /** Forget a partial event (the stream dropped); the last dispatched id is kept. */
  reset(): void {
    this.lastId = this.dispatchedId;
    this.pending = '';
    this.skipLf = false;
    this.data = [];
    this.event = '';
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retry = Number(value);
        }
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseMessage[]): void {
    this.dispatchedId = this.lastId;
    if (this.data.length === 0) {
      this.event = '';
      return;
    }
    out.push({ id: this.lastId, event: this.event || 'message', data: this.data.join('\n') });
    this.data = [];
    this.event = '';
  }
}

/**
 * The wait before reconnecting after ``failures`` drops in a row: 0.5 s, doubling, never
 * more than ``maxMs``.
 */
export function reconnectDelay(failures: number, baseMs = 500, maxMs = 10_000): number {
  if (failures <= 0) {
    return 0;
  }
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}
