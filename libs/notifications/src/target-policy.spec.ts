import { networkInterfaces } from 'node:os';
import { hostAddresses } from './target-address.js';
import { TargetNotAllowedError, TargetPolicy } from './target-policy.js';

describe('TargetPolicy', () => {
  const strict = new TargetPolicy(false);
  const open = new TargetPolicy(true);

  it.each([
    'http://127.0.0.1/hook',
    'http://127.10.20.30:8080/hook',
    'http://localhost:3000/hook',
    'http://LOCALHOST./hook',
    'http://api.localhost/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/hook',
    'http://[::]/hook',
    'http://0.0.0.0/hook',
    'http://[fe80::1]/hook',
    'http://[febf:ffff::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[::ffff:169.254.1.1]/hook',
    'http://[::127.0.0.1]/hook',
    'http://2130706433/hook',
    'http://0x7f.1/hook',
    // Cloud metadata outside 169.254/16: AWS over IPv6 (inside fc00::/7), Alibaba (carrier-grade NAT).
    'http://[fd00:ec2::254]/latest/meta-data',
    'http://100.100.100.200/latest/meta-data',
    'http://100.64.0.1/hook',
    // IPv4 inside IPv6, judged as that IPv4: NAT64, 6to4, IPv4-translated, Teredo (client 127.0.0.1).
    'http://[64:ff9b::7f00:1]/hook',
    'http://[64:ff9b::169.254.169.254]/hook',
    'http://[2002:7f00:1::1]/hook',
    'http://[2002:a9fe:a9fe::]/hook',
    'http://[::ffff:0:7f00:1]/hook',
    'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook',
    'http://[64:ff9b:1::a00:1]/hook',
    // Neither reachable unicast nor a private network.
    'http://224.0.0.1/hook',
    'http://255.255.255.255/hook',
    'http://240.0.0.1/hook',
    'http://[ff02::1]/hook',
    'http://[2001:db8::1]/hook',
    'http://[fec0::1]/hook',
  ])('refuses %s unless private targets are allowed', (url) => {
    expect(() => strict.assertAllowedUrl(url)).toThrow(TargetNotAllowedError);
    expect(() => strict.assertAllowedUrl(url)).toThrow(/WEBHOOK_ALLOW_PRIVATE_TARGETS=true/);
    expect(() => open.assertAllowedUrl(url)).not.toThrow();
  });

  it.each([
    'https://hooks.example.com/x',
    'http://10.0.0.5:8080/hook',
    'http://172.16.1.1/hook',
    'http://192.168.1.20/hook',
    'http://[fd12:3456::1]/hook',
    'http://[2606:4700::1111]/hook',
    'http://128.0.0.1/',
    'http://[64:ff9b::808:808]/hook',
    'http://[2002:808:808::1]/hook',
  ])('accepts %s', (url) => {
    expect(() => strict.assertAllowedUrl(url)).not.toThrow();
  });

  it('refuses private networks (RFC 1918, unique-local) when they are not allowed either', () => {
    const publicOnly = new TargetPolicy(false, undefined, { allowPrivateNetworks: false });
    for (const url of ['http://10.0.0.5/hook', 'http://192.168.1.20/hook', 'http://[fd12:3456::1]/hook', 'http://[::ffff:10.0.0.5]/hook']) {
      expect(() => publicOnly.assertAllowedUrl(url)).toThrow(/is a (private network|unique-local) address.*WEBHOOK_ALLOW_PRIVATE_NETWORKS=true/);
    }
    expect(() => publicOnly.assertAllowedUrl('https://hooks.example.com/x')).not.toThrow();
  });

  it("refuses this host's own interface addresses, also inside IPv6, even in a private network", () => {
    const onHost = new TargetPolicy(false, undefined, { localAddresses: () => ['10.1.2.3', 'fd12::5', '2606:4700::6'] });
    for (const url of ['http://10.1.2.3:8080/hook', 'http://[::ffff:10.1.2.3]/hook', 'http://[fd12:0:0::5]/hook', 'http://[2606:4700::6]/hook']) {
      expect(() => onHost.assertAllowedUrl(url)).toThrow(/is an address of this host/);
    }
    expect(() => onHost.assertAllowedUrl('http://10.1.2.4/hook')).not.toThrow();
    expect(() => new TargetPolicy(true, undefined, { localAddresses: () => ['10.1.2.3'] }).assertAllowedUrl('http://10.1.2.3/hook')).not.toThrow();
  });

  it("reads this host's addresses from its network interfaces by default, and refuses every one", () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .flatMap((i) => (i ? [i.address] : []));
    expect(own.length).toBeGreaterThan(0);
    expect(hostAddresses()).toEqual(own);
    for (const address of own) expect(() => strict.assertAllowedUrl(`http://${address.includes(':') ? `[${address}]` : address}/hook`)).toThrow(TargetNotAllowedError);
  });

  it.each([
    ['fd00:ec2::254', /a cloud metadata address/],
    ['100.100.100.200', /a carrier-grade NAT address/],
    ['64:ff9b::a9fe:a9fe', /a link-local address/],
    ['2002:7f00:1::', /a loopback address/],
    ['::ffff:0:a9fe:a9fe', /a link-local address/],
    ['10.1.2.3', /an address of this host/],
  ])('refuses at connect time a name resolving to %s', async (address, message) => {
    const resolving = new TargetPolicy(false, async () => ['93.184.215.14', address], { localAddresses: () => ['10.1.2.3'] });
    const found = new Promise((resolve, reject) => resolving.lookup('hooks.example.test', { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
    await expect(found).rejects.toThrow(message);
  });

  it.each([
    ['ftp://hooks.example.com/x', /http or https/],
    ['not a url', /absolute http or https URL/],
    ['https://user:pass@hooks.example.com/x', /credentials/],
    ['https://token@hooks.example.com/x', /credentials/],
  ])('refuses %s whatever the setting', (url, message) => {
    expect(() => strict.assertAllowedUrl(url)).toThrow(message);
    expect(() => open.assertAllowedUrl(url)).toThrow(message);
  });

  it('resolves for the socket with the system resolver by default, refusing restricted addresses', async () => {
    const lookup = (policy: TargetPolicy, host: string) =>
      new Promise((resolve, reject) => policy.lookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
    await expect(lookup(open, 'localhost')).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ address: '127.0.0.1', family: 4 })]));
    await expect(lookup(strict, 'localhost')).rejects.toThrow(/localhost \(127\.0\.0\.1\) is a loopback address/);
  });
});
