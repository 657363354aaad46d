DROP INDEX `uq_point`;--> statement-breakpoint
CREATE UNIQUE INDEX `uq_point_live` ON `restore_points` (`repository_id`,`platform_vm_id`,`point_id`) WHERE deleted_at is null;