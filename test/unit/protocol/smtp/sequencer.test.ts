// Unit tests for protocol/smtp/sequencer.ts: command order and argument checks (RFC 5321 sections 4.1.1, 4.1.4, 4.5.3).
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../../../protocol/smtp/command.js';
import { formatReply } from '../../../../protocol/smtp/reply.js';
import { COMMAND_LINE_MAX, NOTHING_OFFERED, PARAMETER_ALLOWANCE, decide } from '../../../../protocol/smtp/sequencer.js';
import type { Decision, Offer, SessionFacts } from '../../../../protocol/smtp/sequencer.js';

const EHLO_OFFER: Offer = {
  size: true, eightBitMime: true, smtpUtf8: true, dsn: true, auth: true,
  pipelining: true, starttls: true, authMechanisms: ['PLAIN', 'LOGIN'],
};

const FRESH: SessionFacts = {
  greeting: 'none', offer: NOTHING_OFFERED, tls: false, authenticated: false, mailGiven: false,
  smtputf8: false, recipients: 0, rcptCommands: 0, messageSizeLimit: 1000, recipientsMax: 3, hostname: 'mx.test',
};
const AFTER_EHLO: SessionFacts = { ...FRESH, greeting: 'ehlo', offer: EHLO_OFFER };
const AFTER_HELO: SessionFacts = { ...FRESH, greeting: 'helo', offer: NOTHING_OFFERED };
const IN_MAIL: SessionFacts = { ...AFTER_EHLO, mailGiven: true };

/** Decide on a command line; the octet count is the line plus CRLF unless given. */
function d(line: string, f: SessionFacts, octets?: number): Decision {
  const bytes = Buffer.from(line, 'utf8');
  return decide(parseCommand(bytes), f, octets ?? bytes.length + 2);
}

/** A reply decision as "code enhanced text" plus its error kind. */
function said(dec: Decision): { reply: string; error: string | null } {
  if (dec.kind !== 'reply') assert.fail(`expected a reply, got ${JSON.stringify(dec)}`);
  return { reply: formatReply(dec.reply, true).trimEnd(), error: dec.error };
}

test('MAIL before HELO/EHLO: 503 5.5.1', () => {
  assert.deepEqual(said(d('MAIL FROM:<a@b.example>', FRESH)), { reply: '503 5.5.1 Send EHLO or HELO first', error: 'syntax' });
});

test('nested MAIL: 503 5.5.1', () => {
  assert.deepEqual(said(d('MAIL FROM:<a@b.example>', IN_MAIL)), { reply: '503 5.5.1 Sender already specified', error: 'syntax' });
});

test('RCPT before MAIL: 503 5.5.1', () => {
  assert.deepEqual(said(d('RCPT TO:<a@b.example>', AFTER_EHLO)), { reply: '503 5.5.1 Send MAIL first', error: 'syntax' });
});

test('DATA without MAIL, without RCPT, after only failed RCPTs', () => {
  assert.equal(said(d('DATA', AFTER_EHLO)).reply, '503 5.5.1 Send MAIL first');
  assert.equal(said(d('DATA', IN_MAIL)).reply, '503 5.5.1 Valid RCPT command must precede DATA');
  assert.equal(said(d('DATA', { ...IN_MAIL, rcptCommands: 2 })).reply, '554 5.5.1 No valid recipients');
  assert.deepEqual(d('DATA', { ...IN_MAIL, recipients: 1, rcptCommands: 2 }), { kind: 'data' });
  assert.equal(said(d('DATA x', { ...IN_MAIL, recipients: 1 })).reply, '501 5.5.4 DATA takes no arguments');
});

test('a full transaction in order', () => {
  assert.deepEqual(d('EHLO client.example', FRESH), { kind: 'helo', ehlo: true, name: 'client.example' });
  assert.deepEqual(d('MAIL FROM:<a@b.example> SIZE=500 BODY=8BITMIME', AFTER_EHLO), {
    kind: 'mail',
    sender: { local: 'a', domain: 'b.example', utf8: false, literal: false },
    params: { smtputf8: false, size: 500, body: '8BITMIME' },
  });
  assert.deepEqual(d('RCPT TO:<c@d.example> NOTIFY=FAILURE', IN_MAIL), {
    kind: 'rcpt',
    recipient: { local: 'c', domain: 'd.example', utf8: false, literal: false },
    params: { notify: ['FAILURE'] },
  });
  assert.deepEqual(d('DATA', { ...IN_MAIL, recipients: 1, rcptCommands: 1 }), { kind: 'data' });
  assert.deepEqual(d('RSET', IN_MAIL), { kind: 'rset' });
  assert.deepEqual(d('QUIT', IN_MAIL), { kind: 'quit' });
});

test('"MAIL FROM: <a@b>" with a space, and the null sender', () => {
  const spaced = d('MAIL FROM: <a@b.example>', AFTER_HELO);
  assert.equal(spaced.kind, 'mail');
  assert.deepEqual(d('MAIL FROM:<>', AFTER_HELO), { kind: 'mail', sender: null, params: { smtputf8: false } });
  assert.deepEqual(said(d('RCPT TO:<>', { ...AFTER_HELO, mailGiven: true })), {
    reply: '501 5.1.3 Bad recipient address syntax: null address not allowed here', error: 'syntax',
  });
  assert.deepEqual(said(d('MAIL FROM:<a@>', AFTER_HELO)), {
    reply: '501 5.1.7 Bad sender address syntax: address must be local-part@domain', error: 'syntax',
  });
});

test('RCPT TO:<Postmaster> is accepted without a domain, as postmaster at the primary host name (RFC 5321 4.5.1)', () => {
  assert.deepEqual(d('RCPT TO:<Postmaster>', IN_MAIL), {
    kind: 'rcpt', recipient: { local: 'postmaster', domain: 'mx.test', utf8: false, literal: false }, params: {},
  });
});

test('HELO and EHLO argument checks', () => {
  assert.deepEqual(said(d('HELO', FRESH)), { reply: '501 5.5.4 Syntax: HELO hostname', error: 'syntax' });
  assert.deepEqual(said(d('EHLO', FRESH)), { reply: '501 5.5.4 Syntax: EHLO hostname', error: 'syntax' });
  assert.equal(said(d('HELO a.example b', FRESH)).reply, '501 5.5.4 Syntax: HELO hostname');
  // EHLO tolerates words after the name (some clients send them); the name is the first word.
  assert.deepEqual(d('EHLO a.example extra', FRESH), { kind: 'helo', ehlo: true, name: 'a.example' });
  for (const good of ['client.example', 'client.example.', 'my_host.example', 'localhost', '[192.0.2.1]', '[IPv6:2001:db8::1]']) {
    assert.deepEqual(d(`HELO ${good}`, FRESH), { kind: 'helo', ehlo: false, name: good }, good);
  }
  for (const bad of ['-bad.example', 'bad-.example', 'a..b', '[192.0.2.300]', '[IPv6:::g]', 'has/slash', 'x.' + 'y'.repeat(64)]) {
    assert.equal(said(d(`EHLO ${bad}`, FRESH)).reply, '501 5.5.4 Invalid EHLO argument: not a domain name or address literal', bad);
  }
  // A second EHLO is allowed at any time (it resets the session).
  assert.equal(d('EHLO again.example', IN_MAIL).kind, 'helo');
});

test('command line length: 512 octets, more for MAIL and RCPT (RFC 5321 section 4.5.3.1.4)', () => {
  assert.equal(COMMAND_LINE_MAX, 512);
  assert.equal(d('NOOP', AFTER_EHLO, 512).kind, 'reply');
  assert.deepEqual(said(d('NOOP', AFTER_EHLO, 512)), { reply: '250 2.0.0 OK', error: null });
  assert.deepEqual(said(d('NOOP', AFTER_EHLO, 513)), { reply: '500 5.5.2 Line too long', error: 'syntax' });
  assert.equal(said(d('EHLO a.example', FRESH, 513)).reply, '500 5.5.2 Line too long');
  const limit = COMMAND_LINE_MAX + PARAMETER_ALLOWANCE;
  assert.equal(d('MAIL FROM:<a@b.example>', AFTER_EHLO, limit).kind, 'mail');
  assert.equal(said(d('MAIL FROM:<a@b.example>', AFTER_EHLO, limit + 1)).reply, '500 5.5.2 Line too long');
  assert.equal(d('RCPT TO:<a@b.example>', IN_MAIL, 600).kind, 'rcpt');
  assert.equal(said(d('RCPT TO:<a@b.example>', IN_MAIL, limit + 1)).reply, '500 5.5.2 Line too long');
  // A real long MAIL line with DSN parameters is measured by its octets.
  const envid = 'E'.repeat(100);
  const line = `MAIL FROM:<${'s'.repeat(64)}@example.com> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=${envid} AUTH=<>`;
  assert.ok(line.length + 2 > 200);
  assert.equal(d(line, AFTER_EHLO).kind, 'mail');
});

test('SIZE over the limit: 552 5.3.4, not a syntax error (RFC 1870)', () => {
  assert.deepEqual(said(d('MAIL FROM:<a@b.example> SIZE=1001', AFTER_EHLO)), {
    reply: '552 5.3.4 Message size exceeds fixed maximum message size', error: null,
  });
  assert.equal(d('MAIL FROM:<a@b.example> SIZE=1000', AFTER_EHLO).kind, 'mail');
});

test('too many recipients: 452 4.5.3, not a syntax error (RFC 5321 section 4.5.3.1.10)', () => {
  assert.deepEqual(said(d('RCPT TO:<x@y.example>', { ...IN_MAIL, recipients: 3, rcptCommands: 3 })), {
    reply: '452 4.5.3 Too many recipients', error: null,
  });
  assert.equal(d('RCPT TO:<x@y.example>', { ...IN_MAIL, recipients: 2 }).kind, 'rcpt');
});

test('UTF-8 addresses need SMTPUTF8 on MAIL: 553 5.6.7 (RFC 6531)', () => {
  assert.deepEqual(said(d('MAIL FROM:<jöran@bücher.example>', AFTER_EHLO)), {
    reply: '553 5.6.7 Non-ASCII sender address requires the SMTPUTF8 parameter', error: 'syntax',
  });
  assert.deepEqual(d('MAIL FROM:<jöran@bücher.example> SMTPUTF8', AFTER_EHLO), {
    kind: 'mail',
    sender: { local: 'jöran', domain: 'bücher.example', utf8: true, literal: false },
    params: { smtputf8: true },
  });
  // A UTF-8 recipient in a transaction opened without SMTPUTF8.
  assert.deepEqual(said(d('RCPT TO:<用户@例子.广告>', { ...IN_MAIL, smtputf8: false })), {
    reply: '553 5.6.7 Non-ASCII recipient requires SMTPUTF8 on MAIL', error: 'syntax',
  });
  assert.deepEqual(d('RCPT TO:<用户@例子.广告>', { ...IN_MAIL, smtputf8: true }), {
    kind: 'rcpt', recipient: { local: '用户', domain: '例子.广告', utf8: true, literal: false }, params: {},
  });
});

test('parameters are refused after HELO, accepted after EHLO', () => {
  assert.deepEqual(said(d('MAIL FROM:<a@b.example> SIZE=10', AFTER_HELO)), {
    reply: '555 5.5.4 Unsupported parameter SIZE', error: 'syntax',
  });
  assert.equal(said(d('MAIL FROM:<a@b.example> BODY=8BITMIME', AFTER_HELO)).reply, '555 5.5.4 Unsupported parameter BODY');
  // Even if the offer record says otherwise, HELO means no extensions.
  assert.equal(said(d('MAIL FROM:<a@b.example> SMTPUTF8', { ...AFTER_HELO, offer: EHLO_OFFER })).reply,
    '555 5.5.4 Unsupported parameter SMTPUTF8');
  assert.equal(said(d('RCPT TO:<a@b.example> NOTIFY=NEVER', { ...AFTER_HELO, offer: EHLO_OFFER, mailGiven: true })).reply,
    '555 5.5.4 Unsupported parameter NOTIFY');
  assert.equal(d('MAIL FROM:<a@b.example> SIZE=10', AFTER_EHLO).kind, 'mail');
  // After EHLO, an extension the server did not offer is still refused.
  assert.equal(said(d('MAIL FROM:<a@b.example> SIZE=10', { ...AFTER_EHLO, offer: { ...EHLO_OFFER, size: false } })).reply,
    '555 5.5.4 Unsupported parameter SIZE');
});

test('STARTTLS: not offered, already in TLS, with an argument', () => {
  assert.deepEqual(d('STARTTLS', AFTER_EHLO), { kind: 'starttls' });
  assert.deepEqual(said(d('STARTTLS', AFTER_HELO)), { reply: '502 5.5.1 STARTTLS not available', error: 'syntax' });
  assert.deepEqual(said(d('STARTTLS', { ...AFTER_EHLO, tls: true })), { reply: '503 5.5.1 TLS already active', error: 'syntax' });
  assert.equal(said(d('STARTTLS now', AFTER_EHLO)).reply, '501 5.5.4 STARTTLS takes no arguments');
});

test('AUTH: offered mechanisms only, not twice, not inside a transaction', () => {
  assert.deepEqual(d('AUTH plain AGFsaWNlAHNlY3JldA==', AFTER_EHLO), { kind: 'auth', mechanism: 'PLAIN', initial: 'AGFsaWNlAHNlY3JldA==' });
  assert.deepEqual(d('AUTH LOGIN', AFTER_EHLO), { kind: 'auth', mechanism: 'LOGIN', initial: null });
  assert.equal(said(d('AUTH CRAM-MD5', AFTER_EHLO)).reply, '504 5.5.4 Unrecognized authentication mechanism');
  assert.equal(said(d('AUTH', AFTER_EHLO)).reply, '501 5.5.4 Syntax: AUTH mechanism [initial-response]');
  assert.equal(said(d('AUTH PLAIN a b', AFTER_EHLO)).reply, '501 5.5.4 Syntax: AUTH mechanism [initial-response]');
  assert.equal(said(d('AUTH PLAIN', AFTER_HELO)).reply, '503 5.5.1 AUTH not available');
  assert.equal(said(d('AUTH PLAIN', { ...AFTER_EHLO, authenticated: true })).reply, '503 5.5.1 Already authenticated');
  assert.equal(said(d('AUTH PLAIN', IN_MAIL)).reply, '503 5.5.1 AUTH not allowed during a mail transaction');
});

test('VRFY 252, EXPN 502, HELP 214, NOOP 250, RSET with an argument 501', () => {
  assert.deepEqual(said(d('VRFY postmaster', AFTER_EHLO)), {
    reply: '252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery', error: null,
  });
  assert.equal(said(d('VRFY', AFTER_EHLO)).reply, '501 5.5.4 Syntax: VRFY address');
  assert.equal(said(d('EXPN staff', AFTER_EHLO)).reply, '502 5.5.1 EXPN not available');
  assert.equal(said(d('HELP', FRESH)).reply.slice(0, 10), '214 2.0.0 ');
  assert.deepEqual(said(d('NOOP anything', FRESH)), { reply: '250 2.0.0 OK', error: null });
  assert.equal(said(d('RSET now', IN_MAIL)).reply, '501 5.5.4 RSET takes no arguments');
});

test('unknown commands: 500 5.5.1 with error kind "unknown"; invalid ones are "syntax"', () => {
  assert.deepEqual(said(d('XYZZY', AFTER_EHLO)), { reply: '500 5.5.1 Unrecognized command', error: 'unknown' });
  assert.deepEqual(said(d('BDAT 10 LAST', AFTER_EHLO)), { reply: '500 5.5.1 Unrecognized command', error: 'unknown' });
  assert.deepEqual(said(decide(parseCommand(Buffer.from('NOOP\0')), AFTER_EHLO, 7)), {
    reply: '500 5.5.2 Invalid characters in command', error: 'syntax',
  });
  assert.deepEqual(said(d('MAIL <a@b.example>', AFTER_EHLO)), { reply: '501 5.5.2 Syntax: MAIL FROM:<address>', error: 'syntax' });
});

