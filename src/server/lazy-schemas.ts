/**
 * Route schemas compiled when first used rather than all at start-up. Compiling every route's validators and
 * response serializers is about 0.4 s of CPU on the path to a first start's first answer, while a starting
 * server answers a handful of routes in its first seconds. `compileAll` compiles the rest: the server calls
 * it a few seconds after listening, one schema per turn of the event loop, and a test calls it to see every
 * schema compile.
 *
 * Each route part keeps the compiler fastify would use (Ajv through @fastify/ajv-compiler, fast-json-stringify
 * through @fastify/fast-json-stringify-compiler, with the same shared schemas and options), so a compiled
 * function is the one fastify would have made; the wrapper only defers making it. Fastify lowercases the
 * header names of a headers schema for its own compiler only (requests carry them in lowercase): here that is
 * done for the names a flat headers schema lists (`properties`, `required`), the only kind a route has.
 */
import ajvCompiler from '@fastify/ajv-compiler';
import serializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type Validate = ((data: unknown, ctx?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown };
type Serialize = (doc: unknown) => string;
type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;

export interface LazySchemas {
  /** The `schemaController.compilersFactory` option of a fastify instance. */
  compilersFactory: CompilersFactory;
  /** Compiles every schema not compiled yet, yielding to the event loop between two; rejects on the first failure. */
  compileAll(): Promise<void>;
  /** Schemas not compiled yet. */
  pending(): number;
}

export function lazySchemas(): LazySchemas {
  const validators = ajvCompiler();
  const serializers = serializerSelector();
  const waiting = new Set<() => void>();

  /** A function made on first use (or by compileAll) and cached. */
  function deferred<F>(make: () => F): () => F {
    let made: F | undefined;
    const get = () => {
      if (made === undefined) {
        made = make();
        waiting.delete(force);
      }
      return made;
    };
    const force = () => void get();
    waiting.add(force);
    return get;
  }

  return {
    compilersFactory: {
      buildValidator: ((external: never, options: never) => {
        const compile = validators(external, options) as unknown as (def: unknown) => Validate;
        return (def: unknown) => {
          const real = deferred(() => compile(headerNamesInLowercase(def)));
          const validate = ((data: unknown, ctx?: unknown) => real()(data, ctx)) as Validate;
          // fastify reads `errors` after a failed call, and passes the parent object when `schemaEnv` is set
          // (what lets Ajv coerce or default a root value): both come from the compiled function.
          Object.defineProperties(validate, {
            errors: { get: () => real().errors },
            schemaEnv: { get: () => real().schemaEnv },
          });
          return validate;
        };
      }) as unknown as CompilersFactory['buildValidator'],
      buildSerializer: ((external: unknown, options: never) => {
        const compile = serializers(external, options) as (def: unknown) => Serialize;
        return (def: unknown) => {
          const real = deferred(() => compile(def));
          return (doc: unknown) => real()(doc);
        };
      }) as CompilersFactory['buildSerializer'],
    },
    async compileAll() {
      for (const force of [...waiting]) {
        force();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
    pending: () => waiting.size,
  };
}

/** A headers schema's listed names in lowercase, as fastify does for its own compiler; other parts as they are. */
function headerNamesInLowercase(def: unknown): unknown {
  const d = def as { httpPart?: string; schema?: { properties?: object; required?: unknown } };
  if (d.httpPart !== 'headers' || typeof d.schema !== 'object' || d.schema === null) return def;
  const { properties, required } = d.schema;
  return {
    ...d,
    schema: {
      ...d.schema,
      ...(properties && {
        properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k.toLowerCase(), v])),
      }),
      ...(Array.isArray(required) && { required: required.map((n) => String(n).toLowerCase()) }),
    },
  };
}
