/**
 * Times in the history: how long a run took (or has taken so far), how long ago it was
 * started, and the full time for a title. Pure: "now" is always given (seconds since the
 * epoch, as the API's times are).
 */

import type { RunSummary } from './api';

/** A run's duration in seconds: started to finished, or to ``now`` while it goes; null when it never started. */
export function runDuration(run: RunSummary, now: number): number | null {
  if (run.started === null) {
    return null;
  }
  const end = run.finished ?? now;
  return Math.max(0, end - run.started);
}

/** ``0.4 s``, ``12 s``, ``3 min 04 s``, ``1 h 02 min``, ``2 d 3 h``. */
export function formatDuration(seconds: number): string {
  if (seconds < 10) {
    return `${(Math.floor(seconds * 10) / 10).toFixed(1)} s`;
  }
  const whole = Math.floor(seconds);
  if (whole < 60) {
    return `${whole} s`;
  }
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) {
    return `${minutes} min ${pad(whole % 60)} s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours} h ${pad(minutes % 60)} min`;
  }
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** ``just now``, ``40 s ago``, ``5 min ago``, ``3 h ago``, ``yesterday``, ``4 days ago``. */
export function relativeTime(then: number, now: number): string {
  // a clock a little ahead of this one is "just now", not "in 2 s"
  const ago = Math.max(0, now - then);
  if (ago < 5) {
    return 'just now';
  }
  if (ago < 60) {
    return `${Math.floor(ago)} s ago`;
  }
  const minutes = Math.floor(ago / 60);
  if (minutes < 60) {
    return `${minutes} min ago`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours} h ago`;
  }
  const days = Math.floor(hours / 24);
  if (days === 1) {
    return 'yesterday';
  }
  if (days < 60) {
    return `${days} days ago`;
  }
  return `on ${fullTime(then).slice(0, 10)}`;
}

/** ``2026-12-03 14:05:09`` in this machine's time zone (a title, a tooltip). */
export function fullTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** An epoch time as an ISO 8601 string (a <time>'s dateTime). */
export function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
