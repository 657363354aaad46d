/**
 * @layer entry
 * drizzle-kit's configuration: `npx drizzle-kit generate --config db/drizzle.config.ts` writes a
 * new migration into db/migrations/ from the changes in db/schema.ts (see db/README.md).
 */
import type { Config } from 'drizzle-kit';

export default {
  dialect: 'sqlite',
  schema: './db/schema.ts',
  out: './db/migrations',
} satisfies Config;
