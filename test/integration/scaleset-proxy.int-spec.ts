import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { ScaleSetClient } from '@app/scaleset';
import { FakeGitHub } from '@app/testing';

/** A forward proxy on loopback that records what it carried (CONNECT tunnels and absolute-form requests). */
async function startProxy(): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const target = new URL(req.url ?? '');
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url ?? ''}`);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe('scale set client behind an HTTP proxy (HTTP_PROXY / HTTPS_PROXY / NO_PROXY)', () => {
  const fake = new FakeGitHub({ pollTimeoutMs: 200 });
  let proxy: Awaited<ReturnType<typeof startProxy>>;

  beforeAll(async () => {
    await fake.start();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy.close();
    await fake.stop();
  });

  function client(env: Record<string, string>): ScaleSetClient {
    return new ScaleSetClient({
      configUrl: fake.configUrl('org'),
      auth: { kind: 'pat', token: fake.pat },
      retry: { max: 0 },
      env,
    });
  }

  it('sends every call through the proxy named in the environment', async () => {
    proxy.seen.length = 0;
    const c = client({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url });
    const scaleSet = await c.createRunnerScaleSet({ name: 'behind-proxy', runnerGroupId: 1 });
    expect(scaleSet.id).toBeGreaterThan(0);
    await c.close();
    const origin = new URL(fake.origin).host;
    expect(proxy.seen.length).toBeGreaterThanOrEqual(1);
    expect(proxy.seen.every((line) => line.includes(origin))).toBe(true);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    proxy.seen.length = 0;
    const c = client({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    await c.getRunnerScaleSetByName(1, 'behind-proxy');
    await c.close();
    expect(proxy.seen).toEqual([]);
  });
});
