-- Hand-written in place of drizzle-kit's output (db/README.md "Migrations"): drizzle-kit rebuilds the
-- table, and inside the migrator's transaction `PRAGMA foreign_keys=OFF` does nothing, so its DROP TABLE
-- would cascade into restore_point_disks. Adding the column keeps every row; the Store sets it on insert.
ALTER TABLE `restore_points` ADD `recorded_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE `restore_points` SET `recorded_at` = `created_at`;
