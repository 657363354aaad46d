ALTER TABLE `restores` ADD `kvm_host_id` text;--> statement-breakpoint
ALTER TABLE `restores` ADD `error_code` text;--> statement-breakpoint
ALTER TABLE `restores` ADD `result` text;--> statement-breakpoint
ALTER TABLE `restores` ADD `updated_at` integer;--> statement-breakpoint
CREATE INDEX `idx_restores_vm` ON `restores` (`platform_vm_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `idx_restores_status` ON `restores` (`status`);