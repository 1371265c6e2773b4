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
  ])('refuses %s unless private targets are allowed', (url) => {
    expect(() => strict.assertAllowedUrl(url)).toThrow(TargetNotAllowedError);
    expect(() => strict.assertAllowedUrl(url)).toThrow(/WEBHOOK_ALLOW_PRIVATE_TARGETS=true/);
    expect(() => open.assertAllowedUrl(url)).not.toThrow();
  });

  it.each(['https://hooks.example.com/x', 'http://10.0.0.5:8080/hook', 'http://[2001:db8::1]/hook', 'http://[fec0::1]/hook', 'http://128.0.0.1/'])(
    'accepts %s',
    (url) => {
      expect(() => strict.assertAllowedUrl(url)).not.toThrow();
    },
  );

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
