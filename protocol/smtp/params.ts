// ESMTP parameters of MAIL and RCPT: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
// RET/ENVID/NOTIFY/ORCPT (RFC 3461) and AUTH (RFC 4954).
import type { Reply } from './reply.js';
import { reply } from './reply.js';

/** Which extensions the server offered in its EHLO reply (HELO offers none). */
export interface Offered {
  readonly size: boolean;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly dsn: boolean;
  readonly auth: boolean;
}

export type Notify = 'NEVER' | readonly ('SUCCESS' | 'FAILURE' | 'DELAY')[];

export interface MailParams {
  size?: number;
  body?: '7BIT' | '8BITMIME';
  smtputf8: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  auth?: string;
}

export interface RcptParams {
  notify?: Notify;
  orcpt?: { type: string; address: string };
}

export type ParamsResult<T> = { kind: 'ok'; params: T } | { kind: 'error'; reply: Reply };

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

function err(code: number, enhanced: string, text: string): { kind: 'error'; reply: Reply } {
  return { kind: 'error', reply: reply(code, enhanced, text) };
}

/** Split "K=V K2" into keyword/value pairs; keywords are upper-cased, duplicates rejected. */
function split(text: string): { kind: 'ok'; pairs: Map<string, string | null> } | { kind: 'error'; reply: Reply } {
  const pairs = new Map<string, string | null>();
  if (text.trim() === '') return { kind: 'ok', pairs };
  for (const item of text.trim().split(/ +/)) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : item.slice(eq + 1);
    if (!KEYWORD.test(key)) return err(501, '5.5.4', `Malformed parameter "${item.slice(0, 40)}"`);
    // eslint-disable-next-line no-control-regex
    if (value !== null && (value === '' || /[=\x00-\x20\x7f]/.test(value))) {
      return err(501, '5.5.4', `Malformed value for ${key}`);
    }
    if (pairs.has(key)) return err(501, '5.5.4', `Duplicate parameter ${key}`);
    pairs.set(key, value);
  }
  return { kind: 'ok', pairs };
}

/** xtext decoding (RFC 3461 section 4): "+" followed by two upper-case hex digits. */
export function decodeXtext(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (c < 33 || c > 126 || c === 0x3d) {
      return null;
    } else {
      out += s[i];
    }
  }
  return out;
}

/** xtext encoding, for passing DSN parameters on. */
export function encodeXtext(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 33 || c > 126 || c === 0x2b || c === 0x3d) {
      for (const b of Buffer.from(ch)) out += '+' + b.toString(16).toUpperCase().padStart(2, '0');
    } else out += ch;
  }
  return out;
}

function unsupported(key: string): { kind: 'error'; reply: Reply } {
  return err(555, '5.5.4', `Unsupported parameter ${key}`);
}

export function parseMailParams(text: string, offered: Offered): ParamsResult<MailParams> {
  const s = split(text);
  if (s.kind === 'error') return s;
  const params: MailParams = { smtputf8: false };
  for (const [key, value] of s.pairs) {
    switch (key) {
      case 'SIZE':
        if (!offered.size) return unsupported(key);
        if (value === null || !/^\d{1,20}$/.test(value)) return err(501, '5.5.4', 'SIZE needs a number');
        params.size = Number(value);
        break;
      case 'BODY': {
        if (!offered.eightBitMime) return unsupported(key);
        const v = value?.toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME') return err(501, '5.5.4', 'BODY must be 7BIT or 8BITMIME');
        params.body = v;
        break;
      }
      case 'SMTPUTF8':
        if (!offered.smtpUtf8) return unsupported(key);
        if (value !== null) return err(501, '5.5.4', 'SMTPUTF8 takes no value');
        params.smtputf8 = true;
        break;
      case 'RET': {
        if (!offered.dsn) return unsupported(key);
        const v = value?.toUpperCase();
        if (v !== 'FULL' && v !== 'HDRS') return err(501, '5.5.4', 'RET must be FULL or HDRS');
        params.ret = v;
        break;
      }
      case 'ENVID': {
        if (!offered.dsn) return unsupported(key);
        const v = value === null ? null : decodeXtext(value);
        if (v === null || v.length > 100) return err(501, '5.5.4', 'Malformed ENVID');
        params.envid = v;
        break;
      }
      case 'AUTH': {
        if (!offered.auth) return unsupported(key);
        const v = value === null ? null : decodeXtext(value);
        if (v === null) return err(501, '5.5.4', 'Malformed AUTH parameter');
        params.auth = v;
        break;
      }
      default:
        return unsupported(key);
    }
  }
  return { kind: 'ok', params };
}

export function parseRcptParams(text: string, offered: Offered): ParamsResult<RcptParams> {
  const s = split(text);
  if (s.kind === 'error') return s;
  const params: RcptParams = {};
  for (const [key, value] of s.pairs) {
    switch (key) {
      case 'NOTIFY': {
        if (!offered.dsn) return unsupported(key);
        const items = (value ?? '').toUpperCase().split(',');
        if (items.length === 1 && items[0] === 'NEVER') {
          params.notify = 'NEVER';
          break;
        }
        const set = new Set<'SUCCESS' | 'FAILURE' | 'DELAY'>();
        for (const item of items) {
          if (item !== 'SUCCESS' && item !== 'FAILURE' && item !== 'DELAY') {
            return err(501, '5.5.4', 'NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY');
          }
          if (set.has(item)) return err(501, '5.5.4', 'NOTIFY lists a value twice');
          set.add(item);
        }
        params.notify = [...set];
        break;
      }
      case 'ORCPT': {
        if (!offered.dsn) return unsupported(key);
        const semi = value === null ? -1 : value.indexOf(';');
        if (value === null || semi <= 0) return err(501, '5.5.4', 'ORCPT must be addr-type;xtext');
        const type = value.slice(0, semi);
        const address = decodeXtext(value.slice(semi + 1));
        if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(type) || address === null || address === '' || address.length > 500) {
          return err(501, '5.5.4', 'Malformed ORCPT');
        }
        params.orcpt = { type: type.toLowerCase(), address };
        break;
      }
      default:
        return unsupported(key);
    }
  }
  return { kind: 'ok', params };
}
