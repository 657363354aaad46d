ALTER TABLE "policies" ADD COLUMN "platform" text;--> statement-breakpoint
ALTER TABLE "restore_points" ADD COLUMN "platform_metadata" jsonb;