/** The shape every service keeps of a person's name (User, UserRef, a member of a projection). */
export interface Named {
	name?: string | null;
	surname?: string | null;
}

/**
 * "Ada Lovelace" as every text shows a person; `fallback` when there is no one or no name
 * (a notification about a member the projection no longer knows, a system chat line).
 */
export function fullName(user: Named | null | undefined, fallback = ""): string {
	return (user ? `${user.name ?? ""} ${user.surname ?? ""}`.trim() : "") || fallback;
}
