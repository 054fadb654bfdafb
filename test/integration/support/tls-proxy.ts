import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test CA and a server certificate for 127.0.0.1 signed by it (PEM). */
export interface TestCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

/**
 * Creates a throwaway CA plus a 127.0.0.1 server certificate with the machine's `openssl`,
 * in a temporary directory that is removed again.
 */
export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'scaleset-tls-'));
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=scaleset conformance test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    openssl(
      'req',
      ...ec,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=127.0.0.1',
    );
    writeFileSync(
      file('server.ext'),
      'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.pem'),
      '-days',
      '1',
      '-extfile',
      file('server.ext'),
    );
    return {
      caCert: readFileSync(file('ca.pem'), 'utf8'),
      serverCert: readFileSync(file('server.pem'), 'utf8'),
      serverKey: readFileSync(file('server.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An HTTPS front of an HTTP origin. */
export interface TlsProxy {
  /** `https://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

async function readAll(stream: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves HTTPS on 127.0.0.1 and forwards every request to `target` (plain HTTP), rewriting
 * the origin in bodies both ways, so that URLs the target hands out (the Actions service URL,
 * the message queue URL) point back at the HTTPS front and every client call goes over TLS.
 */
export async function startTlsProxy(target: string, certs: TestCertificates): Promise<TlsProxy> {
  let origin = '';
  const server: Server = createServer(
    { key: certs.serverKey, cert: certs.serverCert },
    (req, res) => {
      void (async () => {
        const body = (await readAll(req)).split(origin).join(target);
        const headers = { ...req.headers, host: new URL(target).host };
        delete headers['content-length'];
        const upstream = httpRequest(
          `${target}${req.url ?? '/'}`,
          {
            method: req.method ?? 'GET',
            headers: { ...headers, 'content-length': Buffer.byteLength(body) },
          },
          (answer) => {
            void readAll(answer).then((text) => {
              const rewritten = text.split(target).join(origin);
              const answerHeaders = { ...answer.headers };
              delete answerHeaders['content-length'];
              res.writeHead(answer.statusCode ?? 502, {
                ...answerHeaders,
                'content-length': Buffer.byteLength(rewritten),
              });
              res.end(rewritten);
            });
          },
        );
        upstream.on('error', (err) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`proxy error: ${err.message}`);
        });
        upstream.end(body);
      })();
    },
  );
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
