CREATE TABLE `maintenance_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`trigger` text NOT NULL,
	`status` text NOT NULL,
	`repository_id` text NOT NULL,
	`platform_vm_id` text,
	`restore_point_id` text,
	`policy_id` text,
	`kvm_host_id` text,
	`agent_job_id` text,
	`request` text NOT NULL,
	`result` text,
	`error_code` text,
	`error` text,
	`requested_by` text,
	`queued_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`policy_id`) REFERENCES `policies`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `idx_maint_status` ON `maintenance_jobs` (`status`);--> statement-breakpoint
CREATE INDEX `idx_maint_vm` ON `maintenance_jobs` (`platform_vm_id`,`queued_at`);--> statement-breakpoint
CREATE INDEX `idx_maint_kind` ON `maintenance_jobs` (`kind`,`queued_at`);--> statement-breakpoint
ALTER TABLE `policies` ADD `verify_schedule` text;--> statement-breakpoint
ALTER TABLE `policies` ADD `verify_restore_test` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `policies` ADD `verify_last_run_at` integer;--> statement-breakpoint
ALTER TABLE `restore_points` ADD `verification_problems` text;--> statement-breakpoint
ALTER TABLE `restore_points` ADD `verification_job_id` text;