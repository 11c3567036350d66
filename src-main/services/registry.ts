/**
 * Methods are registered with a zod schema for their params; the dispatcher validates every
 * request at the boundary and answers typed errors a person can act on.
 */
import { z } from 'zod';
import { ApiError, type Method, type Req, type Res } from '../contract/api';

export interface MethodDef<M extends Method = Method> {
  schema: z.ZodType<Req<M>>;
  handler: (params: Req<M>) => Promise<Res<M>>;
}
export type MethodTable = { [M in Method]?: MethodDef<M> };

export const empty = z.object({}).strict() as unknown as z.ZodType<Record<string, never>>;
export const runId = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'a run id');

/** Formats zod issues as one line per problem. */
export function describeZod(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');
}

export async function dispatch(table: MethodTable, method: string, params: unknown): Promise<unknown> {
  const def = (table as Record<string, MethodDef<Method> | undefined>)[method];
  if (!def) throw new ApiError('invalid', `unknown method "${method}"`);
  const parsed = def.schema.safeParse(params ?? {});
  if (!parsed.success) throw new ApiError('invalid', `${method}: ${describeZod(parsed.error)}`);
  return def.handler(parsed.data as never);
}
