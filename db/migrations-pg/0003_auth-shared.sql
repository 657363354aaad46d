CREATE TABLE "sign_in_windows" (
	"key" text PRIMARY KEY NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"count" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "token_revocations" (
	"id" text PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "policies" ADD COLUMN "user_assignable" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "policy_assignments" ADD COLUMN "created_by_role" text;--> statement-breakpoint
CREATE INDEX "idx_revocations_at" ON "token_revocations" USING btree ("at");