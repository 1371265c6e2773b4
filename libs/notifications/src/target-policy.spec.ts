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

  it('checks every address a host name resolves to at delivery time', async () => {
    const resolving = (addresses: string[]) => new TargetPolicy(false, async () => addresses);
    await expect(resolving(['93.184.215.14']).assertAllowedAtDelivery('https://hooks.example.com/x')).resolves.toBeUndefined();
    await expect(resolving(['93.184.215.14', '127.0.0.1']).assertAllowedAtDelivery('https://rebind.example.com/x')).rejects.toThrow(
      /rebind\.example\.com \(127\.0\.0\.1\) is a loopback address/,
    );
    await expect(resolving(['::ffff:a9fe:a9fe']).assertAllowedAtDelivery('https://meta.example.com/x')).rejects.toThrow(/link-local/);
    const allowed = new TargetPolicy(true, async () => ['127.0.0.1']);
    await expect(allowed.assertAllowedAtDelivery('https://rebind.example.com/x')).resolves.toBeUndefined();
  });

  it('resolves with the system resolver by default: localhost literals never reach it', async () => {
    await expect(strict.assertAllowedAtDelivery('http://127.0.0.1:1/x')).rejects.toThrow(TargetNotAllowedError);
    await expect(open.assertAllowedAtDelivery('http://127.0.0.1:1/x')).resolves.toBeUndefined();
  });
});
