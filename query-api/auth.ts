/**
 * The optional bearer token, checked on every gRPC call (metadata `authorization: Bearer TOKEN`) and HTTP request
 * (header `Authorization: Bearer TOKEN`). Compared in constant time.
 */
import crypto from 'node:crypto';
import { LookbackError } from '../common/errors.js';

export type Authorize = (header: string | undefined) => void;

export function createAuthorizer(token: string): Authorize {
  if (token === '') return () => {};
  const want = crypto.createHash('sha256').update(`Bearer ${token}`).digest();
  return (header) => {
    const got = crypto.createHash('sha256').update(header ?? '').digest();
    if (!header || !crypto.timingSafeEqual(want, got)) {
      throw new LookbackError('permission', header ? 'the bearer token is not valid' : 'this server requires a bearer token (Authorization: Bearer TOKEN)');
    }
  };
}
