/**
 * @layer entry
 * drizzle-kit's configuration for PostgreSQL: `npx drizzle-kit generate --config db/drizzle.pg.config.ts`
 * writes a new migration into db/migrations-pg/ from db/pg/schema.ts, which is derived from
 * db/schema.ts (see db/README.md "Migrations").
 */
import type { Config } from 'drizzle-kit';

export default {
  dialect: 'postgresql',
  schema: './db/pg/schema.ts',
  out: './db/migrations-pg',
} satisfies Config;
