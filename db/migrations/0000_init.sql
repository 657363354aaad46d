CREATE TABLE `audit_log` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`actor_id` text,
	`actor_account` text,
	`actor_domain_id` text,
	`via` text NOT NULL,
	`ip` text,
	`action` text NOT NULL,
	`target_type` text,
	`target_id` text,
	`outcome` text NOT NULL,
	`details` text
);
--> statement-breakpoint
CREATE INDEX `idx_audit_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE INDEX `idx_audit_target` ON `audit_log` (`target_type`,`target_id`);--> statement-breakpoint
CREATE TABLE `backup_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`source_platform` text DEFAULT 'cloudstack' NOT NULL,
	`platform_vm_id` text NOT NULL,
	`vm_name` text,
	`kvm_host_id` text,
	`requested_mode` text DEFAULT 'auto' NOT NULL,
	`quiesce` integer DEFAULT false NOT NULL,
	`type` text NOT NULL,
	`type_reason` text NOT NULL,
	`trigger` text NOT NULL,
	`policy_id` text,
	`repository_id` text NOT NULL,
	`status` text NOT NULL,
	`progress` real DEFAULT 0 NOT NULL,
	`bytes_total` integer,
	`bytes_done` integer DEFAULT 0 NOT NULL,
	`bytes_written` integer DEFAULT 0 NOT NULL,
	`current_disk` text,
	`error_code` text,
	`error` text,
	`agent_job_id` text,
	`requested_by` text,
	`queued_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`policy_id`) REFERENCES `policies`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `idx_source_platform` ON `backup_jobs` (`source_platform`);--> statement-breakpoint
CREATE INDEX `idx_jobs_status` ON `backup_jobs` (`status`);--> statement-breakpoint
CREATE INDEX `idx_jobs_vm` ON `backup_jobs` (`platform_vm_id`,`queued_at`);--> statement-breakpoint
CREATE INDEX `idx_jobs_host` ON `backup_jobs` (`kvm_host_id`,`status`);--> statement-breakpoint
CREATE TABLE `chains` (
	`id` text PRIMARY KEY NOT NULL,
	`platform_vm_id` text NOT NULL,
	`source_platform` text NOT NULL,
	`repository_id` text NOT NULL,
	`length` integer DEFAULT 0 NOT NULL,
	`state` text DEFAULT 'open' NOT NULL,
	`state_reason` text,
	`started_at` integer NOT NULL,
	`last_point_at` integer,
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `idx_chains_vm` ON `chains` (`platform_vm_id`,`repository_id`);--> statement-breakpoint
CREATE TABLE `cloudstack_agents` (
	`id` text PRIMARY KEY NOT NULL,
	`host_id` text NOT NULL,
	`host_ip` text NOT NULL,
	`hostname` text NOT NULL,
	`agent_version` text,
	`status` text DEFAULT 'inactive' NOT NULL,
	`status_message` text,
	`last_heartbeat_at` integer,
	`ssh_key_fingerprint` text,
	`capabilities` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cloudstack_agents_host_id_unique` ON `cloudstack_agents` (`host_id`);--> statement-breakpoint
CREATE INDEX `idx_agents_status` ON `cloudstack_agents` (`status`);--> statement-breakpoint
CREATE INDEX `idx_agents_heartbeat` ON `cloudstack_agents` (`last_heartbeat_at`);--> statement-breakpoint
CREATE TABLE `cloudstack_hosts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`ip` text,
	`zone_id` text,
	`cluster_id` text,
	`state` text,
	`resource_state` text,
	`hypervisor_version` text,
	`last_seen_at` integer NOT NULL,
	`removed_at` integer
);
--> statement-breakpoint
CREATE TABLE `cloudstack_vms` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`display_name` text,
	`instance_name` text,
	`state` text NOT NULL,
	`zone_id` text,
	`zone_name` text,
	`host_id` text,
	`host_name` text,
	`account` text NOT NULL,
	`domain_id` text NOT NULL,
	`domain_path` text,
	`service_offering` text,
	`template` text,
	`tags` text DEFAULT '[]' NOT NULL,
	`last_seen_at` integer NOT NULL,
	`removed_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `idx_vms_account` ON `cloudstack_vms` (`domain_id`,`account`);--> statement-breakpoint
CREATE INDEX `idx_vms_host` ON `cloudstack_vms` (`host_id`);--> statement-breakpoint
CREATE INDEX `idx_vms_zone` ON `cloudstack_vms` (`zone_id`);--> statement-breakpoint
CREATE TABLE `disks` (
	`id` text PRIMARY KEY NOT NULL,
	`vm_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`kind` text,
	`path` text,
	`format` text,
	`pool_id` text,
	`pool_type` text,
	`last_seen_at` integer NOT NULL,
	`removed_at` integer,
	FOREIGN KEY (`vm_id`) REFERENCES `cloudstack_vms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `idx_disks_vm` ON `disks` (`vm_id`);--> statement-breakpoint
CREATE TABLE `policies` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`schedule` text NOT NULL,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`full_every` integer NOT NULL,
	`max_chain_length` integer NOT NULL,
	`retention` text NOT NULL,
	`repository_id` text,
	`enabled` integer DEFAULT true NOT NULL,
	`last_run_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `policies_name_unique` ON `policies` (`name`);--> statement-breakpoint
CREATE TABLE `policy_assignments` (
	`id` text PRIMARY KEY NOT NULL,
	`policy_id` text NOT NULL,
	`kind` text NOT NULL,
	`target` text NOT NULL,
	`created_by` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`policy_id`) REFERENCES `policies`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `uq_assignment_target` ON `policy_assignments` (`kind`,`target`);--> statement-breakpoint
CREATE INDEX `idx_assignment_policy` ON `policy_assignments` (`policy_id`);--> statement-breakpoint
CREATE TABLE `repositories` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`kind` text NOT NULL,
	`capacity_bytes` integer,
	`used_bytes` integer,
	`is_default` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `repositories_name_unique` ON `repositories` (`name`);--> statement-breakpoint
CREATE TABLE `restore_point_disks` (
	`id` text PRIMARY KEY NOT NULL,
	`restore_point_id` text NOT NULL,
	`disk_index` integer NOT NULL,
	`target` text NOT NULL,
	`volume_id` text,
	`type` text NOT NULL,
	`image` text NOT NULL,
	`backing` text,
	`checkpoint` text,
	`virtual_size_bytes` integer NOT NULL,
	`file_size_bytes` integer NOT NULL,
	`content_sha256` text NOT NULL,
	FOREIGN KEY (`restore_point_id`) REFERENCES `restore_points`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `uq_point_disk` ON `restore_point_disks` (`restore_point_id`,`disk_index`);--> statement-breakpoint
CREATE TABLE `restore_points` (
	`id` text PRIMARY KEY NOT NULL,
	`point_id` text NOT NULL,
	`platform_vm_id` text NOT NULL,
	`source_platform` text NOT NULL,
	`repository_id` text NOT NULL,
	`chain_id` text NOT NULL,
	`parent_id` text,
	`job_id` text,
	`type` text NOT NULL,
	`reason` text NOT NULL,
	`consistency` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`virtual_size_bytes` integer NOT NULL,
	`bytes_written` integer NOT NULL,
	`manifest` text NOT NULL,
	`verification_status` text DEFAULT 'unverified' NOT NULL,
	`verified_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`deleted_at` integer,
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`chain_id`) REFERENCES `chains`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`parent_id`) REFERENCES `restore_points`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`job_id`) REFERENCES `backup_jobs`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `uq_point` ON `restore_points` (`repository_id`,`platform_vm_id`,`point_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `uq_point_job` ON `restore_points` (`job_id`);--> statement-breakpoint
CREATE INDEX `idx_points_vm` ON `restore_points` (`platform_vm_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `idx_points_chain` ON `restore_points` (`chain_id`);--> statement-breakpoint
CREATE TABLE `restores` (
	`id` text PRIMARY KEY NOT NULL,
	`restore_point_id` text NOT NULL,
	`platform_vm_id` text NOT NULL,
	`kind` text NOT NULL,
	`target` text NOT NULL,
	`status` text NOT NULL,
	`progress` real DEFAULT 0 NOT NULL,
	`error` text,
	`agent_job_id` text,
	`requested_by` text,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`restore_point_id`) REFERENCES `restore_points`(`id`) ON UPDATE no action ON DELETE restrict
);
