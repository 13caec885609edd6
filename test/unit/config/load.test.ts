// Unit tests for config/load.ts: defaults, validation errors that name the key, and loading .json/.mjs/.js/.ts files.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMBEDDED, buildConfig, loadConfig } from '../../../config/load.js';
import { ConfigError, ConfigLoadError } from '../../../config/errors.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-config-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The problems of the ConfigError that building this input throws. */
function problems(input: unknown, source = EMBEDDED): readonly string[] {
  try {
    buildConfig(input, source, '/srv/petrel');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'CONFIG_INVALID');
    return e.problems;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be refused`);
}

test('buildConfig: defaults of the embedded configuration', () => {
  const c = buildConfig({}, EMBEDDED, '/srv/petrel');
  assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 2525, tlsOnConnect: false }]);
  assert.deepEqual(c.relay_from_hosts, ['127.0.0.1']);
  assert.deepEqual(c.local_domains, ['@', 'localhost']);
  assert.deepEqual(c.relay_to_domains, []);
  assert.equal(c.spool_directory, '/srv/petrel/var/spool');
  assert.equal(c.message_size_limit, 50 * 1024 * 1024);
  assert.equal(c.header_maxsize, 1024 * 1024);
  assert.equal(c.smtp_receive_timeout, 5 * 60_000);
  assert.equal(c.smtp_data_timeout, 5 * 60_000);
  assert.equal(c.acl_timeout, 60_000);
  assert.equal(c.tls_handshake_timeout, 30_000);
  assert.equal(c.recipients_max, 50_000);
  assert.equal(c.message_linelength_limit, 998);
  assert.equal(c.smtp_bare_newline, 'reject');
  assert.equal(c.tls_certificate, undefined);
  assert.equal(c.tls_privatekey, undefined);
  assert.equal(c.source, EMBEDDED);
  assert.equal(typeof c.primary_hostname, 'string');
  assert.ok(c.primary_hostname.length > 0);
  assert.match(c.acl_smtp_rcpt, /Relay not permitted/);
  // null and undefined mean "nothing set".
  assert.deepEqual(buildConfig(null, EMBEDDED, '/srv/petrel').listen, c.listen);
  assert.deepEqual(buildConfig(undefined, EMBEDDED, '/srv/petrel').listen, c.listen);
});

test('buildConfig: values as written are normalised', () => {
  const c = buildConfig({
    primary_hostname: 'mx.example.net',
    listen: ['0.0.0.0:25', '[::]:465'],
    tls_on_connect_ports: [465],
    tls_certificate: 'tls/cert.pem',
    tls_privatekey: '/etc/petrel/key.pem',
    spool_directory: '/var/spool/petrel',
    smtp_receive_timeout: '5m',
    smtp_data_timeout: 90,
    message_size_limit: '50M',
    header_maxsize: 65536,
  }, EMBEDDED, '/srv/petrel');
  assert.deepEqual(c.listen, [{ host: '0.0.0.0', port: 25, tlsOnConnect: false }, { host: '::', port: 465, tlsOnConnect: true }]);
  assert.equal(c.primary_hostname, 'mx.example.net');
  assert.equal(c.tls_certificate, '/srv/petrel/tls/cert.pem');
  assert.equal(c.tls_privatekey, '/etc/petrel/key.pem');
  assert.equal(c.spool_directory, '/var/spool/petrel');
  assert.equal(c.smtp_receive_timeout, 300_000);
  assert.equal(c.smtp_data_timeout, 90_000);
  assert.equal(c.message_size_limit, 52_428_800);
  assert.equal(c.header_maxsize, 65_536);
});

test('an unknown key is refused, naming the key', () => {
  const p = problems({ listen: ['127.0.0.1:25'], relay_from_host: ['10.0.0.1'] });
  assert.equal(p.length, 1);
  assert.match(p[0] as string, /relay_from_host/);
  assert.match(p[0] as string, /Unrecognized key/);
});

test('bad types name the key path', () => {
  assert.deepEqual(problems({ listen: '127.0.0.1:25' }), ['listen: Invalid input: expected array, received string']);
  assert.deepEqual(problems({ listen: ['127.0.0.1:25', 'nowhere'] }), ['listen.1: expected "host:port" (IPv6 as "[::1]:25")']);
  assert.match(problems({ domainlists: { local: 5 } })[0] as string, /^domainlists\.local: /);
  assert.match(problems({ recipients_max: -1 })[0] as string, /^recipients_max: /);
  assert.match(problems({ recipients_max: 1.5 })[0] as string, /^recipients_max: /);
  assert.match(problems({ smtp_bare_newline: 'allow' })[0] as string, /^smtp_bare_newline: /);
  assert.match(problems({ message_linelength_limit: 10 })[0] as string, /^message_linelength_limit: /);
  assert.match(problems({ primary_hostname: 'bad_host' })[0] as string, /^primary_hostname: expected a host name/);
  assert.match(problems({ acls: { 'bad-name': 'accept' } })[0] as string, /^acls\.bad-name: /);
  assert.match(problems(5)[0] as string, /^\(top level\): /);
  // Several problems are all reported.
  const many = problems({ listen: 5, log_level: 'loud', smtp_receive_timeout: 'soon' });
  assert.equal(many.length, 3);
  assert.deepEqual(many.map((s) => s.split(':')[0]).sort(), ['listen', 'log_level', 'smtp_receive_timeout']);
});

test('times and sizes: good values accepted, bad ones refused with the expected form', () => {
  const c = buildConfig({ acl_timeout: '1h30m', shutdown_timeout: '250ms', message_size_limit: '64K', header_maxsize: '1.5M' }, EMBEDDED);
  assert.equal(c.acl_timeout, 5_400_000);
  assert.equal(c.shutdown_timeout, 250);
  assert.equal(c.message_size_limit, 65_536);
  assert.equal(c.header_maxsize, 1_572_864);
  assert.deepEqual(problems({ smtp_receive_timeout: '5x' }), ['smtp_receive_timeout: expected a time such as "30s", "5m", "1h" or a number of seconds']);
  assert.deepEqual(problems({ message_size_limit: 'big' }), ['message_size_limit: expected a size such as "50M", "64K" or a number of octets']);
  assert.deepEqual(problems({ message_size_limit: -5 }), ['message_size_limit: expected a size such as "50M", "64K" or a number of octets']);
  assert.equal(problems({ acl_timeout: true }).length, 1);
});

test('tls_certificate without tls_privatekey (and the reverse) is refused', () => {
  assert.deepEqual(problems({ tls_certificate: 'cert.pem' }), ['tls_privatekey: tls_certificate and tls_privatekey go together']);
  assert.deepEqual(problems({ tls_privatekey: 'key.pem' }), ['tls_privatekey: tls_certificate and tls_privatekey go together']);
  assert.deepEqual(problems({ tls_on_connect_ports: [465] }), ['tls_on_connect_ports: needs tls_certificate and tls_privatekey']);
});

test('a ConfigError from a file names the file', () => {
  try {
    buildConfig({ nope: 1 }, '/etc/petrel/petrel.json');
    assert.fail('expected a ConfigError');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, '/etc/petrel/petrel.json');
    assert.match(e.message, /^\/etc\/petrel\/petrel\.json: invalid configuration\n {2}\(top level\): Unrecognized key: "nope"$/);
  }
});

test('loadConfig: no file gives the embedded default', async () => {
  const c = await loadConfig(undefined, '/srv/petrel');
  assert.equal(c.source, EMBEDDED);
  assert.equal(c.spool_directory, '/srv/petrel/var/spool');
});

test('loadConfig: a .json file, relative to cwd', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'petrel.json'), JSON.stringify({ listen: ['127.0.0.1:2626'], message_size_limit: '10M' }));
  const c = await loadConfig('petrel.json', dir);
  assert.equal(c.source, join(dir, 'petrel.json'));
  assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 2626, tlsOnConnect: false }]);
  assert.equal(c.message_size_limit, 10 * 1024 * 1024);
  assert.equal(c.spool_directory, join(dir, 'var/spool'));
});

test('loadConfig: a .mjs file with a default export', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'petrel.config.mjs');
  writeFileSync(file, `const port = 2727;\nexport default { listen: ['127.0.0.1:' + port], relay_from_hosts: ['127.0.0.1', '::1'] };\n`);
  const c = await loadConfig(file);
  assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 2727, tlsOnConnect: false }]);
  assert.deepEqual(c.relay_from_hosts, ['127.0.0.1', '::1']);
  assert.equal(c.source, file);
});

test('loadConfig: a .mjs file importing defineConfig from petrel-mta, with no temporary file left behind', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'petrel.config.mjs');
  writeFileSync(file, `import { defineConfig } from 'petrel-mta';\nexport default defineConfig({ listen: ['127.0.0.1:2828'] });\n`);
  const c = await loadConfig(file);
  assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 2828, tlsOnConnect: false }]);
  assert.deepEqual(readdirSync(dir), ['petrel.config.mjs']);
});

test('loadConfig: .js files, ES module and CommonJS', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'esm.config.js'), "export default { listen: ['127.0.0.1:3030'] };\n");
  assert.deepEqual((await loadConfig(join(dir, 'esm.config.js'))).listen, [{ host: '127.0.0.1', port: 3030, tlsOnConnect: false }]);
  writeFileSync(join(dir, 'cjs.config.js'), "module.exports = { listen: ['127.0.0.1:3131'] };\n");
  assert.deepEqual((await loadConfig(join(dir, 'cjs.config.js'))).listen, [{ host: '127.0.0.1', port: 3131, tlsOnConnect: false }]);
});

test('loadConfig: a .ts file with defineConfig from petrel-mta and type annotations', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'petrel.config.ts');
  writeFileSync(file, [
    "import { defineConfig } from 'petrel-mta';",
    "import type { ConfigInput } from 'petrel-mta';",
    'const port: number = 2929;',
    "const relays: string[] = ['192.0.2.0/24'];",
    'interface Extra { note: string }',
    "const extra: Extra = { note: 'unused' };",
    'void extra;',
    'const base: ConfigInput = { listen: [`127.0.0.1:${port}`] };',
    "export default defineConfig({ ...base, relay_from_hosts: relays, smtp_receive_timeout: '2m' } satisfies ConfigInput);",
    '',
  ].join('\n'));
  const c = await loadConfig(file);
  assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 2929, tlsOnConnect: false }]);
  assert.deepEqual(c.relay_from_hosts, ['192.0.2.0/24']);
  assert.equal(c.smtp_receive_timeout, 120_000);
  assert.equal(c.source, file);
  assert.deepEqual(readdirSync(dir), ['petrel.config.ts'], 'the transpiled temporary file is removed');
});

test('loadConfig: a .ts file whose config is invalid gives a ConfigError naming the file and key', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.config.ts');
  writeFileSync(file, "export default { listen: ['127.0.0.1:2525'], smtp_receive_timeout: 'later' as string };\n");
  await assert.rejects(loadConfig(file), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, file);
    assert.deepEqual(e.problems, ['smtp_receive_timeout: expected a time such as "30s", "5m", "1h" or a number of seconds']);
    return true;
  });
  assert.deepEqual(readdirSync(dir), ['bad.config.ts']);
});

test('loadConfig: a syntax error in JSON is a ConfigLoadError naming the file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{ "listen": ["127.0.0.1:25"], }');
  await assert.rejects(loadConfig(file), (e: unknown) => {
    assert.ok(e instanceof ConfigLoadError);
    assert.equal(e.code, 'CONFIG_LOAD');
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.ok(e.cause instanceof SyntaxError);
    return true;
  });
});

test('loadConfig: a syntax error in a module file is a ConfigLoadError naming the file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'broken.mjs');
  writeFileSync(file, 'export default { listen: [;\n');
  await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigLoadError && e.message.startsWith(`${file}: `));
});

test('loadConfig: missing file, unsupported type, non-object content', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(loadConfig(join(dir, 'absent.json')), (e: unknown) =>
    e instanceof ConfigLoadError && e.message === `config file not found: ${join(dir, 'absent.json')}`);
  writeFileSync(join(dir, 'petrel.yaml'), 'listen: []\n');
  await assert.rejects(loadConfig(join(dir, 'petrel.yaml')), (e: unknown) =>
    e instanceof ConfigLoadError && /unsupported config file type "\.yaml"/.test(e.message));
  writeFileSync(join(dir, 'list.json'), '[1, 2]');
  await assert.rejects(loadConfig(join(dir, 'list.json')), (e: unknown) => e instanceof ConfigError && e.file === join(dir, 'list.json'));
  writeFileSync(join(dir, 'null.json'), 'null');
  await assert.rejects(loadConfig(join(dir, 'null.json')), (e: unknown) =>
    e instanceof ConfigLoadError && /must export \(default\) or contain a config object/.test(e.message));
  writeFileSync(join(dir, 'nodefault.mjs'), 'export const listen = ["127.0.0.1:25"];\n');
  await assert.rejects(loadConfig(join(dir, 'nodefault.mjs')), (e: unknown) =>
    e instanceof ConfigLoadError && /must export \(default\)/.test(e.message));
});
