ALTER TABLE `teams` ADD `plan` text DEFAULT 'free' NOT NULL;
--> statement-breakpoint
CREATE INDEX `invites_email_idx` ON `invites` (`email`);
