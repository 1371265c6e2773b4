import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { MASKED_HEADER_VALUE, headerNameProblem, maskHeaders } from './webhook-headers.js';
import { GLOBAL_WEBHOOKS, namespaceWebhooks } from './webhook-scope.js';
import { type WebhookSettings, checkSecret, checkWebhookSettings, withDefaults } from './webhook-settings.js';

const base = withDefaults({ name: 'ci', url: 'https://hooks.example.com/berth' });

function fieldOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    return ((err as BadRequestException).getResponse() as { errors: { field: string }[] }).errors[0].field;
  }
  throw new Error('no error');
}

const check = (changes: Partial<WebhookSettings>, scope = GLOBAL_WEBHOOKS) => () => checkWebhookSettings(scope, { ...base, ...changes });

describe('webhook settings', () => {
  it('fills in the defaults and normalises', () => {
    expect(base).toEqual({
      name: 'ci',
      url: 'https://hooks.example.com/berth',
      headers: {},
      actions: null,
      ignoredMediaTypes: [],
      repositoryPattern: null,
      enabled: true,
      timeoutMs: 5000,
      maxAttempts: 10,
    });
    const checked = checkWebhookSettings(GLOBAL_WEBHOOKS, { ...base, name: '  ci  ', actions: ['push', 'push', 'delete'] });
    expect(checked).toMatchObject({ name: 'ci', actions: ['push', 'delete'] });
  });

  it('names the offending field', () => {
    expect(fieldOf(check({ url: 'ftp://example.com/' }))).toBe('url');
    expect(fieldOf(check({ url: 'not a url' }))).toBe('url');
    expect(fieldOf(check({ url: 'https://user:pw@example.com/' }))).toBe('url');
    expect(fieldOf(check({ name: '   ' }))).toBe('name');
    expect(fieldOf(check({ actions: [] }))).toBe('actions');
    expect(fieldOf(check({ actions: ['push', 'tag' as never] }))).toBe('actions.1');
    expect(fieldOf(check({ ignoredMediaTypes: ['application/json', 'nonsense'] }))).toBe('ignoredMediaTypes.1');
    expect(fieldOf(check({ repositoryPattern: 'Team/App' }))).toBe('repositoryPattern');
    expect(fieldOf(check({ repositoryPattern: 'other/*' }, namespaceWebhooks('team')))).toBe('repositoryPattern');
    expect(fieldOf(check({ repositoryPattern: 'team*' }, namespaceWebhooks('team')))).toBe('repositoryPattern');
    expect(fieldOf(check({ timeoutMs: 99 }))).toBe('timeoutMs');
    expect(fieldOf(check({ maxAttempts: 51 }))).toBe('maxAttempts');
    expect(fieldOf(check({ headers: { 'X-Berth-Signature': 'x' } }))).toBe('headers.X-Berth-Signature');
    expect(fieldOf(check({ headers: { 'Bad Name': 'x' } }))).toBe('headers.Bad Name');
    expect(fieldOf(check({ headers: { 'X-Token': 'a\r\nInjected: yes' } }))).toBe('headers.X-Token');
    expect(fieldOf(check({ headers: { 'X-A': '1', 'x-a': '2' } }))).toBe('headers.x-a');
    expect(fieldOf(() => checkSecret('short'))).toBe('secret');
  });

  it("accepts a namespace's pattern inside it", () => {
    expect(checkWebhookSettings(namespaceWebhooks('team'), { ...base, repositoryPattern: 'team/**' }).repositoryPattern).toBe('team/**');
  });
});

describe('webhook headers', () => {
  it.each(['Content-Type', 'content-length', 'User-Agent', 'Host', 'x-berth-delivery', 'X-Berth-Anything', 'Transfer-Encoding'])('refuses %s', (name) => {
    expect(headerNameProblem(name)).toEqual(expect.any(String));
  });

  it.each(['Authorization', 'X-Api-Key', 'x-custom_header.1'])('accepts %s', (name) => {
    expect(headerNameProblem(name)).toBeUndefined();
  });

  it('shows names with masked values', () => {
    expect(maskHeaders({ Authorization: 'Bearer abc', 'X-Key': 'k' })).toEqual({ Authorization: MASKED_HEADER_VALUE, 'X-Key': MASKED_HEADER_VALUE });
  });
});
