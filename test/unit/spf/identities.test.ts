// Unit tests for checkIdentities (RFC 7208 sections 2.3, 2.4) and the reporting helpers: headerComment,
// smtpComment and the Received-SPF header field (section 9.1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHeaders } from '../../../protocol/message/headers.js';
import { checkIdentities, headerComment, receivedSpf, smtpComment } from '../../../protocol/spf/index.js';
import type { SpfResult } from '../../../protocol/spf/index.js';
import { NOW, fixtureDns } from './helpers.js';

const ports = (dns: ReturnType<typeof fixtureDns>) => ({ dns, now: () => NOW, receiver: 'mx.receiver.example' });

const zone = fixtureDns({
  'client.example.org': { TXT: [['v=spf1 a -all']], A: ['192.0.2.1'] },
  'example.com': { TXT: [['v=spf1 ip4:198.51.100.0/24 ~all']] },
});

describe('checkIdentities', () => {
  test('HELO first, then MAIL FROM; each result says which identity it is', async () => {
    const dns = fixtureDns({
      'client.example.org': { TXT: [['v=spf1 a -all']], A: ['192.0.2.1'] },
      'example.com': { TXT: [['v=spf1 ip4:198.51.100.0/24 ~all']] },
    });
    const r = await checkIdentities({ ip: '192.0.2.1', helo: 'client.example.org', mailFrom: 'alice@example.com' }, ports(dns));
    assert.equal(r.helo.kind, 'pass');
    assert.equal(r.helo.checked.identity, 'helo');
    assert.equal(r.helo.checked.sender, 'postmaster@client.example.org');
    assert.equal(r.mailFrom.kind, 'softfail');
    assert.equal(r.mailFrom.checked.identity, 'mailfrom');
    assert.equal(r.mailFrom.domain, 'example.com');
    assert.equal(dns.queries[0], 'TXT client.example.org', 'HELO is checked first');
  });

  test('a null reverse-path: MAIL FROM is postmaster@<helo>, the HELO check, not asked twice', async () => {
    const dns = fixtureDns({ 'client.example.org': { TXT: [['v=spf1 a -all']], A: ['192.0.2.1'] } });
    const r = await checkIdentities({ ip: '192.0.2.9', helo: 'client.example.org', mailFrom: '' }, ports(dns));
    assert.equal(r.mailFrom.kind, 'fail');
    assert.equal(r.mailFrom.checked.sender, 'postmaster@client.example.org');
    assert.equal(r.mailFrom.checked.identity, 'mailfrom');
    assert.equal(r.mailFrom.explanation, r.helo.explanation);
    assert.equal(dns.queries.filter((q) => q === 'TXT client.example.org').length, 1);
  });

  test('an address-literal HELO gives none for HELO; MAIL FROM is still checked', async () => {
    const r = await checkIdentities({ ip: '198.51.100.7', helo: '[192.0.2.1]', mailFrom: 'bob@example.com' }, ports(zone));
    assert.equal(r.helo.kind, 'none');
    assert.equal(r.mailFrom.kind, 'pass');
  });
});

function result(kind: SpfResult['kind'], over: Partial<SpfResult> = {}): SpfResult {
  return {
    kind,
    domain: 'example.com',
    checked: { ip: '192.0.2.1', sender: 'myname@example.com', helo: 'foo.example.com', receiver: 'mybox.example.org', identity: 'mailfrom' },
    ...over,
  };
}

describe('headerComment and smtpComment', () => {
  test('one sentence per result, prefixed by the receiver', () => {
    assert.equal(headerComment(result('pass')), 'mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender');
    assert.equal(headerComment(result('fail')), 'mybox.example.org: domain of myname@example.com does not designate 192.0.2.1 as permitted sender');
    assert.equal(headerComment(result('softfail')), 'mybox.example.org: domain of transitioning myname@example.com does not designate 192.0.2.1 as permitted sender');
    assert.equal(headerComment(result('neutral')), 'mybox.example.org: 192.0.2.1 is neither permitted nor denied by domain of myname@example.com');
    assert.equal(headerComment(result('none')), 'mybox.example.org: domain of myname@example.com does not designate permitted sender hosts');
    assert.match(headerComment(result('permerror', { reason: 'example.com has 2 SPF records' })), /permanent error .*: example.com has 2 SPF records$/);
    assert.match(headerComment(result('temperror')), /temporary error in processing domain of myname@example.com$/);
  });

  test('smtpComment: the explanation for a fail, else the sentence; control characters removed', () => {
    assert.equal(smtpComment(result('fail', { explanation: 'Not from here.\r\nEvil: yes' })), 'Not from here.??Evil: yes');
    assert.equal(smtpComment(result('softfail')), 'domain of transitioning myname@example.com does not designate 192.0.2.1 as permitted sender');
  });
});

describe('Received-SPF (section 9.1)', () => {
  test('the RFC example, unfolded', () => {
    assert.equal(
      receivedSpf(result('pass', { mechanism: 'ip4:192.0.2.0/24' }), { unfolded: true }),
      'Received-SPF: pass (mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender) ' +
        'client-ip=192.0.2.1; envelope-from="myname@example.com"; helo=foo.example.com; receiver=mybox.example.org; ' +
        'identity=mailfrom; mechanism="ip4:192.0.2.0/24";',
    );
  });

  test('folded to 78 columns with CRLF; unfolds back to the one-line form', () => {
    const r = result('permerror', { reason: 'syntax error in the SPF record of example.com: unknown mechanism "moo" in "moo"' });
    const h = receivedSpf(r);
    assert.ok(h.endsWith('\r\n'));
    for (const line of h.slice(0, -2).split('\r\n')) assert.ok(line.length <= 78, line);
    assert.equal(h.slice(0, -2).replace(/\r\n/g, ''), receivedSpf(r, { unfolded: true }));
    assert.match(receivedSpf(r, { unfolded: true }), /problem="syntax error in the SPF record of example.com: unknown mechanism \\"moo\\" in \\"moo\\"";/);
    const fields = parseHeaders(Buffer.from(h + '\r\n', 'latin1'));
    assert.equal(fields.length, 1);
    assert.equal(fields[0]?.name.toLowerCase(), 'received-spf');
  });

  test('IPv6 clients and odd senders are quoted; comment specials escaped; default mechanism', () => {
    const r = result('neutral', {
      checked: { ip: '2001:db8::1', sender: 'we(ird)@example.com', helo: 'h.example', receiver: '', identity: 'helo' },
    });
    const h = receivedSpf(r, { unfolded: true, envelopeFrom: '' });
    assert.equal(
      h,
      'Received-SPF: neutral (2001:db8::1 is neither permitted nor denied by domain of we\\(ird\\)@example.com) ' +
        'client-ip="2001:db8::1"; envelope-from=""; helo=h.example; identity=helo; mechanism=default;',
    );
  });
});
