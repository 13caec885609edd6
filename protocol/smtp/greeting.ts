// Banner, HELO and EHLO replies (RFC 5321 sections 4.1.1.1 and 4.3.1; extension keywords per their RFCs).
import type { Offer } from './sequencer.js';
import type { Reply } from './reply.js';
import { reply } from './reply.js';

export function bannerReply(text: string): Reply {
  return reply(220, undefined, text);
}

export function heloReply(host: string, name: string, ip: string): Reply {
  return reply(250, undefined, `${host} Hello ${name} [${ip}]`);
}

/** The EHLO reply: greeting line, then one keyword per offered extension. */
export function ehloReply(host: string, name: string, ip: string, offer: Offer, sizeLimit: number): Reply {
  const lines = [`${host} Hello ${name} [${ip}]`];
  if (offer.size) lines.push(sizeLimit > 0 ? `SIZE ${sizeLimit}` : 'SIZE');
  if (offer.eightBitMime) lines.push('8BITMIME');
  if (offer.pipelining) lines.push('PIPELINING');
  if (offer.dsn) lines.push('DSN');
  if (offer.smtpUtf8) lines.push('SMTPUTF8');
  if (offer.auth && offer.authMechanisms.length > 0) lines.push(`AUTH ${offer.authMechanisms.join(' ')}`);
  if (offer.starttls) lines.push('STARTTLS');
  lines.push('ENHANCEDSTATUSCODES');
  lines.push('HELP');
  return { code: 250, lines };
}
