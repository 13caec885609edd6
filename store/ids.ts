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

/**
 * Ids sort by creation time; within one millisecond the tail counts up from a random start,
 * so ids stay unique and ordered even when many messages arrive at once.
 */
export function createIdGenerator(now: () => number, randomUint32: () => number): IdGenerator {
  let lastMs = -1;
  let tail = 0;
  return () => {
    let ms = now();
    if (ms <= lastMs) {
      ms = lastMs;
      tail++;
      if (tail >= TAIL_MAX) {
        // Over a billion ids in one millisecond: borrow the next millisecond.
        ms = lastMs + 1;
        tail = randomUint32() % (TAIL_MAX / 2);
      }
    } else {
      // Start in the lower half so that the tail has room to count up.
      tail = randomUint32() % (TAIL_MAX / 2);
    }
    lastMs = ms;
    return encode(ms, 10) + encode(tail, 6);
  };
}

/** The receive time encoded in an id, in milliseconds since the epoch. */
export function idTime(id: string): number {
  let v = 0;
  for (let i = 0; i < 10; i++) v = v * 32 + ALPHABET.indexOf(id[i] as string);
  return v;
}

export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{16}$/;
