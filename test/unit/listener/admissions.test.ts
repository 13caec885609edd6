// The listener's connection count (smtp_accept_max, smtp_accept_max_per_host) and the actor beside it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { Admissions } from '../../../actors/listener/admissions.js';
import { listenerMachine } from '../../../actors/listener/machine.js';

describe('Admissions', () => {
  it('refuses past the total, and admits again once one closes', () => {
    const a = new Admissions(2, 0);
    assert.equal(a.open('192.0.2.1'), 'admit');
    assert.equal(a.open('192.0.2.2'), 'admit');
    assert.equal(a.open('192.0.2.3'), 'total');
    assert.equal(a.total, 2);
    a.close('192.0.2.1');
    assert.equal(a.open('192.0.2.3'), 'admit');
  });

  it('refuses past the per-host limit for that host only', () => {
    const a = new Admissions(0, 1);
    assert.equal(a.open('192.0.2.1'), 'admit');
    assert.equal(a.open('192.0.2.1'), 'per-host');
    assert.equal(a.open('192.0.2.2'), 'admit');
    assert.equal(a.from('192.0.2.1'), 1);
    a.close('192.0.2.1');
    assert.equal(a.from('192.0.2.1'), 0);
    assert.equal(a.open('192.0.2.1'), 'admit');
  });

  it('a refused connection is not counted', () => {
    const a = new Admissions(1, 0);
    a.open('192.0.2.1');
    assert.equal(a.open('192.0.2.1'), 'total');
    assert.equal(a.total, 1);
    assert.equal(a.from('192.0.2.1'), 1);
  });

  it('0 means no limit, as in Exim', () => {
    const a = new Admissions(0, 0);
    for (let i = 0; i < 1000; i++) assert.equal(a.open('192.0.2.1'), 'admit');
    assert.equal(a.total, 1000);
  });

  it('new limits apply to new connections; open ones stay', () => {
    const a = new Admissions(0, 0);
    a.open('192.0.2.1');
    a.open('192.0.2.1');
    a.limits(1, 0);
    assert.equal(a.total, 2);
    assert.equal(a.open('192.0.2.2'), 'total');
    a.close('192.0.2.1');
    assert.equal(a.open('192.0.2.2'), 'total');
    a.close('192.0.2.1');
    assert.equal(a.open('192.0.2.2'), 'admit');
  });

  it('a close never takes the count below zero', () => {
    const a = new Admissions(1, 0);
    a.close('192.0.2.9');
    assert.equal(a.total, 0);
    assert.equal(a.open('192.0.2.1'), 'admit');
    assert.equal(a.open('192.0.2.2'), 'total');
  });
});

describe('listener machine', () => {
  it('counts refusals by reason, takes new limits and drains on stop', () => {
    const actor = createActor(listenerMachine, { input: { maxTotal: 5, maxPerHost: 2 } });
    actor.start();
    actor.send({ type: 'CONN.REFUSED', ip: '192.0.2.1', reason: 'per-host' });
    actor.send({ type: 'CONN.REFUSED', ip: '192.0.2.1', reason: 'per-host' });
    actor.send({ type: 'CONN.REFUSED', ip: '192.0.2.2', reason: 'total' });
    actor.send({ type: 'LISTENER.LIMITS', maxTotal: 7, maxPerHost: 0 });
    let snap = actor.getSnapshot();
    assert.deepEqual(snap.context.refused, { total: 1, 'per-host': 2, stopping: 0 });
    assert.equal(snap.context.maxTotal, 7);
    assert.equal(snap.context.maxPerHost, 0);
    assert.equal(snap.value, 'accepting');
    actor.send({ type: 'LISTENER.STOP' });
    snap = actor.getSnapshot();
    assert.equal(snap.value, 'draining');
    actor.stop();
  });
});
