/**
 * The secret box: what pgvigil must keep but must not leave readable in its store (notification channel
 * URLs and passwords, later the passwords of agentless targets) is sealed with AES-256-GCM under a key kept
 * outside the store, so that a dump of the store does not hand those secrets over.
 *
 * Sealed form (bytes): version (1 byte, 1) ‖ nonce (12 random bytes) ‖ tag (16 bytes) ‖ ciphertext.
 * An optional context string is authenticated with it (GCM additional data): a value sealed for one
 * context does not open in another.
 *
 * The key: 32 bytes, from `PGVIGIL_SECRET_KEY` (base64), else from the key file `PGVIGIL_SECRET_KEY_FILE`
 * (default `<data dir>/secret.key`, base64 text), created with mode 0600 from random bytes on the first
 * start when absent. Several servers sharing one store must share one key (set the variable or copy the
 * file): a value sealed under another key is refused with SECRET_UNREADABLE, never returned garbled.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PgvigilError } from './errors.js';

const formatVersion = 1;
const nonceBytes = 12;
const tagBytes = 16;
export const secretKeyBytes = 32;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== secretKeyBytes) {
      throw new PgvigilError(
        'SECRET_KEY_INVALID',
        `the secret key must be ${secretKeyBytes} bytes (base64 of 32 random bytes), not ${key.length}`,
      );
    }
    this.#key = Buffer.from(key);
  }

  /**
   * Names the key without revealing it (the first 16 hex digits of a SHA-256 over a label and the key):
   * stored beside what it sealed, so a server holding another key can say which key is needed.
   */
  get keyId(): string {
    return createHash('sha256')
      .update('pgvigil secret key id\0')
      .update(this.#key)
      .digest('hex')
      .slice(0, 16);
  }

  /** A box with a fresh random key: for tests and for values that need not outlive the process. */
  static random(): SecretBox {
    return new SecretBox(randomBytes(secretKeyBytes));
  }

  seal(plain: Buffer | string, context = ''): Buffer {
    const nonce = randomBytes(nonceBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from([formatVersion]), nonce, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer, context = ''): Buffer {
    if (sealed.length < 1 + nonceBytes + tagBytes || sealed[0] !== formatVersion) {
      throw new PgvigilError(
        'SECRET_UNREADABLE',
        `a sealed secret has an unknown format (version byte ${sealed[0] ?? 'missing'}, ${sealed.length} bytes)`,
      );
    }
    const nonce = sealed.subarray(1, 1 + nonceBytes);
    const tag = sealed.subarray(1 + nonceBytes, 1 + nonceBytes + tagBytes);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + nonceBytes + tagBytes)), decipher.final()]);
    } catch (err) {
      throw new PgvigilError(
        'SECRET_UNREADABLE',
        'a sealed secret does not open with this secret key: it was sealed under another key (PGVIGIL_SECRET_KEY or the key file differs from the one used then) or it is damaged',
        { cause: err },
      );
    }
  }

  sealJson(value: unknown, context = ''): Buffer {
    return this.seal(JSON.stringify(value), context);
  }

  openJson<T>(sealed: Buffer, context = ''): T {
    return JSON.parse(this.open(sealed, context).toString('utf8')) as T;
  }
}

function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== secretKeyBytes) {
    throw new PgvigilError(
      'SECRET_KEY_INVALID',
      `${where}: expected base64 of ${secretKeyBytes} bytes (make one with: openssl rand -base64 32)`,
    );
  }
  return key;
}

export interface SecretKeySource {
  /** The server's data directory: the key file's default place. */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

/** Where the key came from, for the start log (never the key itself). */
export interface LoadedSecretBox {
  box: SecretBox;
  source: 'env' | 'file' | 'created';
  file?: string;
}

/** The server's secret box: key from the environment, else the key file, created on first start. */
export async function loadSecretBox({
  dataDir,
  env = process.env,
}: SecretKeySource): Promise<LoadedSecretBox> {
  const fromEnv = env.PGVIGIL_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv !== '') {
    return { box: new SecretBox(decodeKey(fromEnv, 'PGVIGIL_SECRET_KEY')), source: 'env' };
  }
  const file = env.PGVIGIL_SECRET_KEY_FILE || join(dataDir, 'secret.key');
  try {
    return { box: new SecretBox(decodeKey(await readFile(file, 'utf8'), file)), source: 'file', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof PgvigilError) throw err;
      throw new PgvigilError(
        'SECRET_KEY_INVALID',
        `cannot read the secret key file ${file}: ${(err as Error).message}`,
      );
    }
  }
  const key = randomBytes(secretKeyBytes);
  // Written whole under a temporary name, then linked into place: a server starting at the same moment
  // either finds no file or a complete one, and link() refuses to replace one that appeared meanwhile.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(temp, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    await link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretBox({ dataDir, env });
    throw new PgvigilError(
      'SECRET_KEY_INVALID',
      `cannot create the secret key file ${file}: ${(err as Error).message}`,
    );
  } finally {
    await unlink(temp).catch(() => {});
  }
  return { box: new SecretBox(key), source: 'created', file };
}
