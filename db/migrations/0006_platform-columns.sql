ALTER TABLE `policies` ADD `platform` text;--> statement-breakpoint
ALTER TABLE `restore_points` ADD `platform_metadata` text;