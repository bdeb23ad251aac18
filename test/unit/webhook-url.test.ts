/**
 * WEBHOOK_BASE_URL and createActivities({ webhookBaseUrl }): HTTPS, as Replicate requires, or plain HTTP on a
 * loopback host only (); anything else is refused at start-up with a message naming the setting and the fix.
 */
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { ConfigError, readWebhookConfig } from '../../src/config';
import { WebhookUrlError, isLoopbackHost } from '../../src/shared/webhook-url';

const ACCEPTED = [
  'https://hooks.example.com',
  'https://hooks.example.com:8443/base/',
  'http://localhost:8788',
  'http://127.0.0.1:8788',
  'http://127.10.20.30',
  'http://[::1]:8788',
];
const REFUSED: [string, RegExp][] = [
  [
    'http://hooks.example.com',
    /must start with https:\/\/: Replicate refuses webhook URLs that are not HTTPS/,
  ],
  ['http://10.0.0.5:8788', /must start with https:\/\//],
  ['http://0.0.0.0:8788', /must start with https:\/\//],
  ['http://localhost.example.com', /must start with https:\/\//],
  ['ftp://hooks.example.com', /must start with https:\/\//],
  ['hooks.example.com', /is not a URL; use the public https:\/\/ address/],
];

describe('WEBHOOK_BASE_URL', () => {
  it.each(ACCEPTED)('accepts %s', (url) => {
    expect(readWebhookConfig({ WEBHOOK_BASE_URL: url })).toMatchObject({ baseUrl: url });
  });

  it.each(REFUSED)('refuses %s with a ConfigError naming the variable and the fix', (url, message) => {
    const read = () => readWebhookConfig({ WEBHOOK_BASE_URL: url });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(new RegExp(`^WEBHOOK_BASE_URL="${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
    expect(read).toThrow(message);
  });
});

describe('createActivities({ webhookBaseUrl })', () => {
  it.each(ACCEPTED)('accepts %s', (url) => {
    expect(() =>
      createActivities({ token: 't', baseUrl: 'https://api.replicate.com/v1', webhookBaseUrl: url }),
    ).not.toThrow();
  });

  it.each(REFUSED)('refuses %s with a WebhookUrlError naming the option', (url, message) => {
    const create = () =>
      createActivities({ token: 't', baseUrl: 'https://api.replicate.com/v1', webhookBaseUrl: url });
    expect(create).toThrow(WebhookUrlError);
    expect(create).toThrow(/^createActivities\(\{ webhookBaseUrl \}\)="/);
    expect(create).toThrow(message);
  });

  it('knows the loopback hosts', () => {
    expect(['localhost', '127.0.0.1', '127.255.0.9', '[::1]', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '128.0.0.1', 'localhost.example.com', '::2'].some(isLoopbackHost)).toBe(
      false,
    );
  });
});
