// Test helper: a self-signed certificate made at test time with the openssl command.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function makeCertificate(dir: string, cn = 'mx.petrel.test'): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`,
  ], { stdio: 'ignore' });
  return { cert, key };
}
