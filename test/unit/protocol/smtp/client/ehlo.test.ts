// Unit tests for protocol/smtp/client/ehlo.ts: capabilities from EHLO replies as real servers send them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { heloCapabilities, parseEhlo } from '../../../../../protocol/smtp/client/ehlo.js';
import type { Capabilities } from '../../../../../protocol/smtp/client/ehlo.js';
import { ReplyReader } from '../../../../../protocol/smtp/client/replies.js';

/** Capabilities from the reply as it comes over the wire. */
function fromWire(wire: string): Capabilities {
  const events = new ReplyReader().push(Buffer.from(wire));
  assert.equal(events.length, 1);
  const e = events[0];
  assert.ok(e && e.kind === 'reply');
  assert.equal(e.reply.code, 250);
  return parseEhlo(e.reply);
}

const NONE = {
  pipelining: false, eightBitMime: false, smtpUtf8: false, dsn: false, starttls: false,
  chunking: false, enhancedStatusCodes: false, auth: [] as string[],
};

function plain(c: Capabilities): Record<string, unknown> {
  return { ...c, other: Object.fromEntries(c.other) };
}

test('Postfix', () => {
  const caps = fromWire(
    '250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n' +
    '250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n',
  );
  assert.deepEqual(plain(caps), {
    ...NONE, pipelining: true, size: 10240000, starttls: true, enhancedStatusCodes: true, eightBitMime: true,
    dsn: true, smtpUtf8: true, chunking: true, other: { VRFY: '', ETRN: '' },
  });
});

test('Exim, with AUTH and its own keywords', () => {
  const caps = fromWire(
    '250-mx.example.org Hello client.example [192.0.2.1]\r\n250-SIZE 52428800\r\n250-LIMITS MAILMAX=1000 RCPTMAX=50000\r\n' +
    '250-8BITMIME\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250-STARTTLS\r\n' +
    '250-PRDR\r\n250 HELP\r\n',
  );
  assert.deepEqual(plain(caps), {
    ...NONE, size: 52428800, eightBitMime: true, pipelining: true, auth: ['PLAIN', 'LOGIN'], chunking: true, starttls: true,
    other: { LIMITS: 'MAILMAX=1000 RCPTMAX=50000', PIPECONNECT: '', PRDR: '', HELP: '' },
  });
});

test('Gmail-like', () => {
  const caps = fromWire(
    '250-mx.google.example at your service, [192.0.2.1]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n' +
    '250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n',
  );
  assert.deepEqual(plain(caps), {
    ...NONE, size: 157286400, eightBitMime: true, starttls: true, enhancedStatusCodes: true, pipelining: true,
    chunking: true, smtpUtf8: true, other: {},
  });
});

test('Microsoft-like, with BINARYMIME and an XEXCH50-style private keyword', () => {
  const caps = fromWire(
    '250-AM0EUR02FT001.mail.protection.example Hello [192.0.2.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n' +
    '250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250-XRDST\r\n250 SMTPUTF8\r\n',
  );
  assert.equal(caps.dsn, true);
  assert.equal(caps.smtpUtf8, true);
  assert.deepEqual(Object.fromEntries(caps.other), { BINARYMIME: '', XRDST: '' });
});

test('a one-line reply offers nothing; the greeting line is never a keyword', () => {
  assert.deepEqual(plain(fromWire('250 mx.example\r\n')), { ...NONE, other: {} });
  // Even a greeting that looks like a keyword.
  assert.deepEqual(plain(parseEhlo({ lines: ['PIPELINING', 'SIZE 5'] })), { ...NONE, size: 5, other: {} });
});

test('keywords in any case; parameters keep theirs', () => {
  const caps = parseEhlo({ lines: ['mx', 'pipelining', 'Size 1000', 'starttls', 'smtputf8', 'Auth plain Cram-MD5', 'x-Private Arg'] });
  assert.equal(caps.pipelining, true);
  assert.equal(caps.size, 1000);
  assert.equal(caps.starttls, true);
  assert.equal(caps.smtpUtf8, true);
  assert.deepEqual(caps.auth, ['PLAIN', 'CRAM-MD5']);
  assert.deepEqual(Object.fromEntries(caps.other), { 'X-PRIVATE': 'Arg' });
});

test('SIZE: absent, alone, zero, a limit, junk', () => {
  assert.equal(parseEhlo({ lines: ['mx'] }).size, undefined);
  assert.equal('size' in parseEhlo({ lines: ['mx'] }), false);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE'] }).size, 0);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE 0'] }).size, 0);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE 35882577'] }).size, 35882577);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE lots'] }).size, 0);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE -5'] }).size, 0);
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE 99999999999999999999'] }).size, 0, 'beyond exact integers: no usable limit');
  assert.equal(parseEhlo({ lines: ['mx', 'SIZE 100', 'SIZE 5'] }).size, 100, 'the first one counts');
});

test('AUTH in both forms, merged and without repeats', () => {
  const caps = parseEhlo({ lines: ['mx', 'AUTH LOGIN PLAIN', 'AUTH=LOGIN PLAIN XOAUTH2', 'AUTH  GSSAPI\tNTLM'] });
  assert.deepEqual(caps.auth, ['LOGIN', 'PLAIN', 'XOAUTH2', 'GSSAPI', 'NTLM']);
  assert.deepEqual(parseEhlo({ lines: ['mx', 'AUTH'] }).auth, []);
  assert.deepEqual(parseEhlo({ lines: ['mx', 'AUTH PLAIN <junk> THIS-NAME-IS-FAR-TOO-LONG-FOR-SASL'] }).auth, ['PLAIN']);
});

test('junk lines are skipped, whatever they hold', () => {
  const caps = parseEhlo({
    lines: ['mx', '', '   ', '-PIPELINING', '=SIZE', 'mx.example.org says hi', '8BITMIME!', ' DSN ', 'STARTTLS', '\u00e9t\u00e9'],
  });
  assert.deepEqual(plain(caps), { ...NONE, dsn: true, starttls: true, other: {} });
});

test('HELO capabilities offer nothing, and each call gets its own map', () => {
  const a = heloCapabilities();
  assert.deepEqual(plain(a), { ...NONE, other: {} });
  assert.equal(a.size, undefined);
  assert.notEqual(a.other, heloCapabilities().other);
});
