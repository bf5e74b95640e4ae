import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDestination, classifyAddress } from './address.js';

test('addresses are classified: metadata, link-local, loopback, private, unspecified, reserved, public', () => {
  const cases: Array<[string, string]> = [
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.1.2', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['ff02::1', 'reserved'],
    ['not-an-ip', 'reserved'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['172.32.0.1', 'public'],
    ['8.8.8.8', 'public'],
    ['2a00:1450:4001::200e', 'public'],
  ];
  for (const [ip, kind] of cases) assert.equal(classifyAddress(ip), kind, ip);
});

test('a host resolving to a metadata or private address is refused unless allowPrivate, saying how', async () => {
  const lookup = async (host: string) =>
    host === 'sneaky.example' ? ['93.184.216.34', '169.254.169.254'] : ['93.184.216.34'];
  await assert.rejects(checkDestination('sneaky.example', { allowPrivate: false, lookup }), {
    code: 'CHANNEL_ADDRESS_REFUSED',
    message:
      /sneaky\.example resolves to 169\.254\.169\.254, which is a metadata address; an admin may allow it with allowPrivate: true/,
  });
  await assert.rejects(checkDestination('metadata.google.internal', { allowPrivate: false, lookup }), {
    code: 'CHANNEL_ADDRESS_REFUSED',
  });
  await assert.rejects(checkDestination('127.0.0.1', { allowPrivate: false, lookup }), {
    code: 'CHANNEL_ADDRESS_REFUSED',
    message: /127\.0\.0\.1 is a loopback address/,
  });
  await assert.rejects(checkDestination('[::1]', { allowPrivate: false, lookup }), {
    code: 'CHANNEL_ADDRESS_REFUSED',
  });
  await checkDestination('hooks.example', { allowPrivate: false, lookup });
  await checkDestination('127.0.0.1', { allowPrivate: true, lookup });
});

test('a host that does not resolve is a configuration error naming it', async () => {
  const lookup = async () => {
    throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
  };
  await assert.rejects(checkDestination('nowhere.invalid', { allowPrivate: false, lookup }), {
    code: 'CHANNEL_CONFIG_INVALID',
    message: /nowhere\.invalid does not resolve \(ENOTFOUND\)/,
  });
});
