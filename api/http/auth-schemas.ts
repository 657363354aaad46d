/**
 * @layer logic
 * Bodies of the sign-in routes (api/http/routes/auth.ts), validated with zod at the trust
 * boundary: the login's second step (CloudStack's two-factor code on a challenge), single
 * sign-on's optional sessionkey, an admin's revoke.
 */
import { z } from 'zod';
import { LoginBody } from './schemas.ts';

/** the first step's body, or the second step's: the same plus the challenge and CloudStack's 2FA code */
export const SignInBody = LoginBody.extend({
  challenge: z.string().min(1).max(200).optional(),
  code: z.string().min(1).max(32).optional(),
}).strict();

export const SsoBody = z.object({ sessionkey: z.string().min(1).max(1024).optional() }).strict();

export const RevokeBody = z.object({ userId: z.string().min(1).max(255) }).strict();
