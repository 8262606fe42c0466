-- Written the way Prisma rebuilds a table to add columns.
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_issues" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "workspace_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "assignee" TEXT,
    "estimate" REAL,
    "is_blocked" INTEGER NOT NULL DEFAULT false,
    "closed_at" INTEGER,
    "priority" INTEGER NOT NULL DEFAULT 2,
    "due_on" DATE,
    CONSTRAINT "issues_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_issues" ("id", "workspace_id", "number", "title", "description", "status", "assignee", "estimate", "is_blocked", "closed_at") SELECT "id", "workspace_id", "number", "title", "description", "status", "assignee", "estimate", "is_blocked", "closed_at" FROM "issues";
DROP TABLE "issues";
ALTER TABLE "new_issues" RENAME TO "issues";
CREATE UNIQUE INDEX "issues_workspace_id_number_key" ON "issues"("workspace_id", "number");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
