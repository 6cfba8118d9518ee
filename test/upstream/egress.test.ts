import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { closedAfterEach } from '../helpers/cleanup.js';
import { startSluice, type SluiceProcess } from '../helpers/process.js';
import { completion, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

/** A self-signed certificate for 127.0.0.1 (its own CA), made with the system's openssl. */
function selfSigned(dir: string, name: string): { cert: string; key: string; certPem: Buffer; keyPem: Buffer } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
}

interface ConnectProxy {
  url: string;
  /** The `host:port` of every CONNECT tunnel it opened. */
  tunnels: string[];
  close(): Promise<void>;
}

/** A loopback HTTP CONNECT proxy (what corporate egress proxies speak for HTTPS). */
async function startConnectProxy(): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    tunnels.push(target);
    const [host, port] = target.split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const answers: UpstreamHandler = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(`via ${req.headers.host ?? '?'}`)));
};

function portOf(upstream: FakeUpstream): string {
  return new URL(upstream.url).port;
}

function clientFor(url: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });
}

let dir: string;
let server: ReturnType<typeof selfSigned>;
let clientCert: ReturnType<typeof selfSigned>;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  server = selfSigned(dir, 'upstream');
  clientCert = selfSigned(dir, 'client');
});

const scoped = closedAfterEach();
let sluice: SluiceProcess | undefined;
afterEach(() => {
  if (sluice && sluice.child.exitCode === null) sluice.child.kill('SIGKILL');
  sluice = undefined;
});

describe('egress proxy', () => {
  it('HTTPS_PROXY carries upstream traffic through a CONNECT tunnel, except for a NO_PROXY host or a provider with proxy: none', async () => {
    const proxy = await startConnectProxy();
    scoped.defer(() => proxy.close());
    const tls = { key: server.keyPem, cert: server.certPem };
    const viaProxy = await scoped.upstream(answers, tls);
    const exempt = await scoped.upstream(answers, tls);
    const yaml = [
      'providers:',
      `  - {name: proxied, type: openai, base_url: "${viaProxy.url}", max_retries: 0, tls: {ca_file: "${server.cert}"}}`,
      `  - {name: exempt, type: openai, base_url: "${exempt.url}", max_retries: 0, tls: {ca_file: "${server.cert}"}}`,
      `  - {name: direct, type: openai, base_url: "${viaProxy.url}", max_retries: 0, proxy: none, tls: {ca_file: "${server.cert}"}}`,
      '',
    ].join('\n');
    // The proxy variables go to the Sluice process only: the test's own clients connect directly.
    sluice = await startSluice(yaml, { HTTPS_PROXY: proxy.url, NO_PROXY: `localhost,127.0.0.1:${portOf(exempt)}` });
    const client = clientFor(sluice.url);

    const proxied = await client.chat.completions.create({ model: 'proxied/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(proxied.choices[0]?.message.content).toBe(`via 127.0.0.1:${portOf(viaProxy)}`);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${portOf(viaProxy)}`]);
    expect(viaProxy.requests).toHaveLength(1);

    await client.chat.completions.create({ model: 'exempt/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(exempt.requests).toHaveLength(1);
    await client.chat.completions.create({ model: 'direct/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(viaProxy.requests).toHaveLength(2);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${portOf(viaProxy)}`]);
  });

  it("a provider's own proxy setting carries its traffic with no proxy in the environment", async () => {
    const proxy = await startConnectProxy();
    scoped.defer(() => proxy.close());
    const upstream = await scoped.upstream(answers);
    const gateway = await scoped.gateway(`providers:\n  - {name: up, type: openai, base_url: "${upstream.url}", proxy: "${proxy.url}"}\n`);
    const answer = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]?.message.content).toBe(`via 127.0.0.1:${portOf(upstream)}`);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${portOf(upstream)}`]);
  });

  it('a proxy that is down is a 502 naming the provider, retried on the next target', async () => {
    const proxy = await startConnectProxy();
    const deadUrl = proxy.url;
    await proxy.close();
    const upstream = await scoped.upstream(answers);
    const gateway = await scoped.gateway(
      [
        'providers:',
        `  - {name: blocked, type: openai, base_url: "${upstream.url}", max_retries: 0, proxy: "${deadUrl}"}`,
        `  - {name: open, type: openai, base_url: "${upstream.url}"}`,
        'routes:',
        '  - {name: either, targets: [{model: blocked/m}, {model: open/m}]}',
        '',
      ].join('\n'),
    );
    const error = await gateway
      .client()
      .chat.completions.create({ model: 'blocked/m', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain("'blocked'");
    const answer = await gateway.client().chat.completions.create({ model: 'either', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]?.message.content).toContain('via');
  });
});

describe('upstream TLS', () => {
  it('a self-signed upstream works with its certificate as ca_file, and without it fails with a 502 naming the TLS problem', async () => {
    const upstream = await scoped.upstream(answers, { key: server.keyPem, cert: server.certPem });
    const gateway = await scoped.gateway(
      [
        'providers:',
        `  - {name: trusted, type: openai, base_url: "${upstream.url}", tls: {ca_file: "${server.cert}"}}`,
        `  - {name: untrusted, type: openai, base_url: "${upstream.url}", max_retries: 0}`,
        '',
      ].join('\n'),
    );
    const ok = await gateway.client().chat.completions.create({ model: 'trusted/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.choices[0]?.message.content).toBe(`via 127.0.0.1:${portOf(upstream)}`);

    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'untrusted/m', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { message: string; type: string; code: string } };
    expect(body.error.type).toBe('server_error');
    expect(body.error.code).toBe('upstream_unreachable');
    expect(body.error.message).toMatch(/^Upstream provider 'untrusted' is unreachable: the TLS certificate check failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
    expect(body.error.message).toContain('tls.ca_file');
    expect(upstream.requests).toHaveLength(1);
  });

  it('mutual TLS: an upstream that requires a client certificate accepts cert_file + key_file', async () => {
    const upstream = await scoped.upstream(answers, { key: server.keyPem, cert: server.certPem, requestCert: true, rejectUnauthorized: true, ca: clientCert.certPem });
    const gateway = await scoped.gateway(
      [
        'providers:',
        `  - {name: mtls, type: openai, base_url: "${upstream.url}", tls: {ca_file: "${server.cert}", cert_file: "${clientCert.cert}", key_file: "${clientCert.key}"}}`,
        `  - {name: anonymous, type: openai, base_url: "${upstream.url}", max_retries: 0, tls: {ca_file: "${server.cert}"}}`,
        '',
      ].join('\n'),
    );
    const ok = await gateway.client().chat.completions.create({ model: 'mtls/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.choices[0]?.message.content).toContain('via');
    const refused = await gateway
      .client()
      .chat.completions.create({ model: 'anonymous/m', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(upstream.requests).toHaveLength(1);
  });

  it('insecure_skip_verify reaches a self-signed upstream, and start-up warns loudly about it', async () => {
    const upstream = await scoped.upstream(answers, { key: server.keyPem, cert: server.certPem });
    sluice = await startSluice(`providers:\n  - {name: lab, type: openai, base_url: "${upstream.url}", tls: {insecure_skip_verify: true}}\n`);
    const warning = sluice
      .stdout()
      .split('\n')
      .find((l) => l.includes('INSECURE'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 40, provider: 'lab' });
    expect(warning).toContain("TLS certificate verification is OFF for provider 'lab'");
    const answer = await clientFor(sluice.url).chat.completions.create({ model: 'lab/m', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]?.message.content).toContain('via');
  });

  it('config: an unreadable TLS file, a certificate without its key, a bad proxy URL stop start-up naming the path; the environment fills egress', () => {
    const problems = (yaml: string): string[] => {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, yaml);
      try {
        loadConfig(file, {});
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems('providers:\n  - {name: a, type: openai, base_url: "https://x.test/v1", tls: {ca_file: /nonexistent/ca.pem}}\n')).toEqual([
      'providers[0].tls.ca_file: cannot read /nonexistent/ca.pem: ENOENT',
    ]);
    expect(problems(`providers:\n  - {name: a, type: openai, base_url: "https://x.test/v1", tls: {cert_file: "${clientCert.cert}"}}\n`)).toEqual([
      'providers[0].tls.key_file: cert_file and key_file go together',
    ]);
    expect(problems('providers:\n  - {name: a, type: openai, base_url: "https://x.test/v1", proxy: "socks://x"}\n')[0]).toMatch(/^providers\[0\]\.proxy: /);
    expect(problems('providers:\n  - {name: a, type: mock}\negress: {https_proxy: "not a url"}\n')[0]).toMatch(/^egress\.https_proxy: /);
    const file = join(dir, 'env.yaml');
    writeFileSync(file, 'providers:\n  - {name: a, type: mock}\n');
    expect(() => loadConfig(file, { HTTPS_PROXY: 'proxy.corp:3128' })).toThrow('HTTPS_PROXY (environment): not a proxy URL');
    expect(loadConfig(file, { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1', NO_PROXY: 'localhost' }).egress).toEqual({ https_proxy: 'http://lower:1', no_proxy: 'localhost' });
    writeFileSync(file, 'egress: {https_proxy: "http://file:1"}\nproviders:\n  - {name: a, type: mock}\n');
    expect(loadConfig(file, { HTTPS_PROXY: 'http://env:1' }).egress.https_proxy).toBe('http://file:1');
  });
});
