/** A constant shaped like a `GET /api/groups` answer (two groups of ten), for the REST baselines. */
export const CONSTANT = Array.from({ length: 2 }, (_, g) => ({
	id: `00000000-0000-4000-8000-00000000000${g}`,
	name: `Group ${g}`,
	createdBy: "00000000-0000-4000-8000-000000000000",
	createdAt: new Date(0).toISOString(),
	members: Array.from({ length: 10 }, (_, m) => ({ id: `00000000-0000-4000-8000-0000000000${10 + m}`, name: `Member${m}`, surname: "Bench" })),
}));
