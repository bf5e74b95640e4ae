import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { PgvigilError } from '../../errors.js';
import { createCsr, newAgentKeyPair, parseCsr } from '../../protocol/csr.js';
import { SecretBox } from '../../secrets.js';
import { AgentCa, agentIdOfCertificate } from './ca.js';

const agentId = '0b5c6c9e-3f0e-4a52-9f4e-2d7d3c1a9b10';

test('a_new_ca_certificate_is_a_self_signed_ca_that_node_reads', () => {
  const { ca } = AgentCa.create(new Date('2026-12-03T00:00:00Z'));
  const cert = ca.certificate;
  assert.equal(cert.ca, true);
  assert.ok(cert.verify(cert.publicKey));
  assert.ok(cert.checkIssued(cert));
  assert.match(cert.subject, /CN=pgvigil agent CA [0-9a-f]{8}/);
  assert.equal(new Date(cert.validTo).getUTCFullYear(), 2036);
});

test('an_issued_certificate_names_the_agent_is_signed_by_the_ca_and_lasts_30_days', () => {
  const now = new Date('2026-12-03T07:00:00Z');
  const { ca } = AgentCa.create(now);
  const keys = newAgentKeyPair();
  const issued = ca.issue(agentId, createCsr(keys.privateKey, keys.publicKey, 'whatever'), now);
  const cert = new X509Certificate(issued.certificate);
  assert.ok(cert.verify(ca.certificate.publicKey));
  assert.ok(cert.checkIssued(ca.certificate));
  assert.equal(cert.ca, false);
  assert.ok(cert.checkPrivateKey(keys.privateKey));
  assert.equal(cert.subjectAltName, `URI:pgvigil:agent:${agentId}`);
  assert.equal(agentIdOfCertificate(cert.subjectAltName), agentId);
  assert.match(cert.subject, new RegExp(`CN=pgvigil agent ${agentId}`));
  assert.equal(cert.serialNumber.toLowerCase(), issued.serial);
  const days = (new Date(cert.validTo).getTime() - now.getTime()) / 86_400_000;
  assert.ok(days > 29.9 && days <= 30, `valid ${days} days`);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
});

test('a_ca_read_back_from_its_pem_issues_certificates_that_chain_to_it', () => {
  const { ca, keyPem } = AgentCa.create();
  const again = AgentCa.fromPem(ca.certificatePem, keyPem);
  const keys = newAgentKeyPair();
  const cert = new X509Certificate(
    again.issue(agentId, createCsr(keys.privateKey, keys.publicKey, 'x')).certificate,
  );
  assert.ok(cert.checkIssued(ca.certificate));
  assert.ok(cert.verify(ca.certificate.publicKey));
  // and its key survives sealing as the store keeps it
  const box = SecretBox.random();
  const opened = box.open(box.seal(keyPem, 'agent-ca'), 'agent-ca').toString('utf8');
  assert.equal(opened, keyPem);
});

test('a_request_whose_signature_does_not_match_its_key_is_refused', () => {
  const { ca } = AgentCa.create();
  const mine = newAgentKeyPair();
  const other = newAgentKeyPair();
  // signed by another key than the one it carries: no proof of possession
  const forged = createCsr(other.privateKey, mine.publicKey, 'x');
  assert.throws(
    () => ca.issue(agentId, forged),
    (err: unknown) =>
      err instanceof PgvigilError && err.code === 'CSR_INVALID' && /does not verify/.test(err.message),
  );
});

test('garbage_truncated_and_weak_key_requests_are_refused_with_csr_invalid', () => {
  const { ca } = AgentCa.create();
  const keys = newAgentKeyPair();
  const good = createCsr(keys.privateKey, keys.publicKey, 'x');
  const body = good.split('\n').slice(1, -2).join('');
  const truncated = `-----BEGIN CERTIFICATE REQUEST-----\n${body.slice(0, body.length - 12)}\n-----END CERTIFICATE REQUEST-----\n`;
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  for (const csr of [
    'not a pem at all',
    truncated,
    '-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n',
    createCsr(weak.privateKey, weak.publicKey, 'x'),
  ]) {
    assert.throws(
      () => ca.issue(agentId, csr),
      (err: unknown) => err instanceof PgvigilError && err.code === 'CSR_INVALID',
      csr.slice(0, 60),
    );
  }
  assert.ok(parseCsr(good).publicKey);
});

test('ed25519_and_rsa_requests_are_accepted', () => {
  const { ca } = AgentCa.create();
  for (const keys of [generateKeyPairSync('ed25519'), generateKeyPairSync('rsa', { modulusLength: 2048 })]) {
    const cert = new X509Certificate(
      ca.issue(agentId, createCsr(keys.privateKey, keys.publicKey, 'x')).certificate,
    );
    assert.ok(cert.checkPrivateKey(keys.privateKey));
  }
});

test('only_one_well_formed_agent_uri_names_an_agent', () => {
  assert.equal(agentIdOfCertificate(undefined), undefined);
  assert.equal(agentIdOfCertificate('DNS:host'), undefined);
  assert.equal(agentIdOfCertificate('URI:pgvigil:agent:not-a-uuid'), undefined);
  assert.equal(
    agentIdOfCertificate(`URI:pgvigil:agent:${agentId}, URI:pgvigil:agent:${agentId.replace('0b', '1b')}`),
    undefined,
  );
  assert.equal(agentIdOfCertificate(`DNS:x, URI:pgvigil:agent:${agentId.toUpperCase()}`), agentId);
});
