CREATE TABLE `sign_in_windows` (
	`key` text PRIMARY KEY NOT NULL,
	`window_start` integer NOT NULL,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `token_revocations` (
	`id` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `idx_revocations_at` ON `token_revocations` (`at`);--> statement-breakpoint
ALTER TABLE `policies` ADD `user_assignable` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `policy_assignments` ADD `created_by_role` text;