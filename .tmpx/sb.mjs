import { pino } from 'pino';
import fs from 'node:fs';
const fd = fs.openSync('/tmp/sb.out', 'w');
const minLength = Number(process.argv[2] ?? 0);
const dest = pino.destination({ dest: fd, sync: false, minLength });
const log = pino({ level: 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
const N = 20000;
const c0 = process.cpuUsage();
let i = 0;
await new Promise((done) => {
  const tick = () => {
    for (let k = 0; k < 20; k++, i++) {
      log.info({ event: 'arrival', id: '01M83GB31VEPBGQ4' + i, sender: 'sender@loadgen.bench.test', size: 2259, recipients: 1, ip: '127.0.0.1', port: 58458 }, `<= 01M83GB31VEPBGQ4 sender@loadgen.bench.test H=loadgen.bench.test [127.0.0.1]:58458 P=esmtp S=2259 id=0.0000000000.0009t2699iwd@loadgen.bench.test for user@example.com`);
      log.info({ event: 'delivered', id: '01M83GB31VEPBGQ4', recipient: 'user@example.com', host: '127.0.0.1', port: 2525 }, `=> user@example.com R=smarthost T=remote_smtp H=127.0.0.1 [127.0.0.1]:2525 C="250 2.0.0 Ok: queued as 12345"`);
      log.info({ event: 'completed', id: '01M83GB31VEPBGQ4' }, 'Completed');
    }
    if (i < N) setImmediate(tick); else done();
  };
  tick();
});
const c = process.cpuUsage(c0);
console.log(`minLength ${minLength}: ${((c.user + c.system) / N).toFixed(1)} us per message (3 lines)`);
