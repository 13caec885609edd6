// Message ids: unique, time-sortable, 16 characters of Crockford base32 (48-bit milliseconds + 30-bit tail).

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TAIL_BITS = 30;
const TAIL_MAX = 2 ** TAIL_BITS;

function encode(value: number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

export type IdGenerator = () => string;

/** Bits of the tail that name the process when several write one spool (session_processes). */
export const PROCESS_BITS = 6;

/**
 * Ids sort by creation time; within one millisecond the tail counts up from a random start,
 * so ids stay unique and ordered even when many messages arrive at once.
 *
 * `slot` is given when several processes make ids for one spool: the top PROCESS_BITS of the tail
 * are then the process's slot, so two processes can never make the same id in the same millisecond
 * (random starts alone would meet now and then over millions of messages).
 */
export function createIdGenerator(now: () => number, randomUint32: () => number, slot?: number): IdGenerator {
  const space = slot === undefined ? TAIL_MAX : TAIL_MAX / 2 ** PROCESS_BITS;
  const base = slot === undefined ? 0 : (slot % 2 ** PROCESS_BITS) * space;
  let lastMs = -1;
  let tail = 0;
  return () => {
    let ms = now();
    if (ms <= lastMs) {
      ms = lastMs;
      tail++;
      if (tail >= space) {
        // The tail's space is used up in one millisecond: borrow the next millisecond.
        ms = lastMs + 1;
        tail = randomUint32() % (space / 2);
      }
    } else {
      // Start in the lower half so that the tail has room to count up.
      tail = randomUint32() % (space / 2);
    }
    lastMs = ms;
    return encode(ms, 10) + encode(base + tail, 6);
  };
}

/** The receive time encoded in an id, in milliseconds since the epoch. */
export function idTime(id: string): number {
  let v = 0;
  for (let i = 0; i < 10; i++) v = v * 32 + ALPHABET.indexOf(id[i] as string);
  return v;
}

export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{16}$/;
