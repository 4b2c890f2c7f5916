import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import type { Group, Notification, Place, Session } from "../../events/types.js";

// Places as members meet them (API.md §6.4): every places route over REST, place:changed on the
// members' sockets, arrivals and departures as the other members' notifications (once per crossing,
// none for jitter at the edge, none for a place created where someone stands), Session.place,
// journeys to a place and moving a running journey's ETA (REST and the journey:update socket event).

let system: System;
const people = ["ada", "bob", "eve"] as const;
type Person = (typeof people)[number];
const client = {} as Record<Person, ApiClient>;
const socket = {} as Record<Person, LiveSocket>;
/** Ada and Bob. */
let family: Group;
/** Eve alone. */
let evesGroup: Group;

const HOME = { latitude: 45.4642, longitude: 9.19 };
/** Metres north of home (1° of latitude ≈ 111,195 m on the sphere the geodesy uses). */
const north = (metres: number) => ({ latitude: HOME.latitude + metres / 111_195, longitude: HOME.longitude });

const id = (who: Person) => client[who].user!.id;
const places = (group: Group) => `/api/groups/${group.id}/places`;

/** Samples with strictly increasing timestamps (a sample not newer than the last is ignored). */
let lastSampleAt = 0;
async function sample(who: Person, at: { latitude: number; longitude: number }, accuracy?: number): Promise<Session[]> {
	lastSampleAt = Math.max(Date.now() - 2_000, lastSampleAt + 1);
	const res = await client[who].post("/api/location/samples", {
		...at,
		...(accuracy === undefined ? {} : { accuracy }),
		timestamp: new Date(lastSampleAt).toISOString(),
	});
	assert.equal(res.status, 202, JSON.stringify(res.body));
	return res.body.sessions;
}

/** Place notifications about Ada that a socket received, as "KIND name". */
const placeNotices = (viewer: Person): string[] =>
	socket[viewer]
		.of("notification")
		.filter((n: Notification) => n.kind.startsWith("PLACE_") && n.subjectUserId === id("ada"))
		.map((n: Notification) => `${n.kind} ${n.title}`);

const sessionOf = async (viewer: Person, subject: Person, group = family): Promise<Session> => {
	const res = await client[viewer].get(`/api/groups/${group.id}/sessions/${id(subject)}`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
};

before(async () => {
	system = await startSystem({
		services: ["users", "location", "notification", "gateway"],
		env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600", TRACKING_CHECK_EVERY: "1" },
	});
	const names: Record<Person, [string, string]> = { ada: ["Ada", "Lovelace"], bob: ["Bob", "Noyce"], eve: ["Eve", "Outsider"] };
	for (const who of people) {
		client[who] = new ApiClient(system.url);
		await client[who].signUp(...names[who]);
	}
	family = await client.ada.createGroup("Family", [client.bob.user!.email]);
	evesGroup = await client.eve.createGroup("Eve's");
	for (const who of people) socket[who] = await connectSocket(system.url, client[who].token!);
	assert.equal((await client.ada.post(`/api/groups/${family.id}/sharing`)).status, 200);
	await sample("ada", HOME, 10);
});

after(async () => {
	for (const who of people) socket[who]?.close();
	await system?.stopAll();
});

describe("places", () => {
	let home: Place;

	test("creating Home where Ada stands: 201 with the place, place:changed to the group, Session.place at once, and no arrival", async () => {
		const res = await client.bob.post(places(family), { name: "  Home \n sweet  home ", ...HOME, radius: 100 });
		assert.equal(res.status, 201, JSON.stringify(res.body));
		home = res.body;
		assert.deepEqual(
			{ ...home, id: typeof home.id, createdAt: typeof home.createdAt },
			{ id: "string", groupId: family.id, name: "Home sweet home", ...HOME, radius: 100, createdBy: id("bob"), createdAt: "string" },
		);
		assert.equal(res.headers.get("location"), `${places(family)}/${home.id}`);
		for (const who of ["ada", "bob"] as const) {
			const change = await socket[who].waitFor("place:changed", c => c.placeId === home.id && c.change === "created");
			assert.deepEqual(change, { groupId: family.id, change: "created", placeId: home.id, place: home });
		}
		assert.deepEqual((await sessionOf("bob", "ada")).place, { id: home.id, name: "Home sweet home" });
		await socket.bob.waitFor("location:update", (s: Session) => s.userId === id("ada") && s.place?.id === home.id);
		// A sample at home afterwards is no arrival either: she was already there.
		await sample("ada", north(5), 10);
		assert.deepEqual(placeNotices("bob"), []);
		assert.equal(socket.eve.of("place:changed").length, 0, "nobody outside the group hears of it");
	});

	test("members list the group's places; PATCH renames; a no-op PATCH answers the place as it is", async () => {
		const list = await client.ada.get(places(family));
		assert.equal(list.status, 200);
		assert.deepEqual(list.body, [home]);
		const renamed = await client.ada.patch(`${places(family)}/${home.id}`, { name: "Home" });
		assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
		assert.deepEqual(renamed.body, { ...home, name: "Home" });
		home = renamed.body;
		await socket.bob.waitFor("place:changed", c => c.change === "updated" && c.place?.name === "Home");
		await waitFor(async () => (await sessionOf("bob", "ada")).place?.name === "Home", { what: "Session.place renamed" });
		const same = await client.ada.patch(`${places(family)}/${home.id}`, {});
		assert.equal(same.status, 200);
		assert.deepEqual(same.body, home);
	});

	test("leaving and coming back notify the other members once each; jitter at the edge does not flap", async () => {
		// Inside the radius and the exit ring (100 m + 25 m), jittering: still home.
		for (const metres of [60, 95, 120, 110, 90]) await sample("ada", north(metres));
		assert.equal((await sessionOf("bob", "ada")).place?.id, home.id);
		// A poor fix far out does not make her leave (its circle still reaches the ring).
		await sample("ada", north(300), 200);
		assert.deepEqual(placeNotices("bob"), []);
		await sample("ada", north(300), 10);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_LEFT");
		assert.deepEqual(placeNotices("bob"), ["PLACE_LEFT Ada Lovelace left Home"]);
		const left = await sessionOf("bob", "ada");
		assert.equal(left.place, null);
		// Between the radius and the ring from outside: not arrived, whatever the jitter.
		for (const metres of [120, 105, 124, 110]) await sample("ada", north(metres));
		await sample("ada", north(20), 10);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_ARRIVED");
		for (const metres of [30, 80, 115, 60]) await sample("ada", north(metres), 5);
		assert.deepEqual(placeNotices("bob"), ["PLACE_LEFT Ada Lovelace left Home", "PLACE_ARRIVED Ada Lovelace arrived at Home"]);
		assert.deepEqual(placeNotices("ada"), [], "the subject is not told about herself");
		assert.deepEqual((await sessionOf("ada", "ada")).place, { id: home.id, name: "Home" });
		const inbox = await client.bob.get("/api/notifications");
		const arrived = inbox.body.notifications.find((n: Notification) => n.kind === "PLACE_ARRIVED");
		assert.deepEqual(
			{ groupId: arrived.groupId, subjectUserId: arrived.subjectUserId, body: arrived.body },
			{
				groupId: family.id,
				subjectUserId: id("ada"),
				body: "Ada Lovelace arrived at Home.",
			},
		);
	});

	test("moving a place away from Ada or deleting it announces nothing; Session.place follows", async () => {
		const moved = await client.bob.patch(`${places(family)}/${home.id}`, { latitude: north(2000).latitude });
		assert.equal(moved.status, 200, JSON.stringify(moved.body));
		await waitFor(async () => (await sessionOf("bob", "ada")).place === null, { what: "Ada no longer at the moved Home" });
		await sample("ada", north(10), 5);
		const back = await client.bob.patch(`${places(family)}/${home.id}`, { latitude: HOME.latitude, radius: 200 });
		assert.equal(back.status, 200);
		await waitFor(async () => (await sessionOf("bob", "ada")).place?.id === home.id, { what: "Ada at Home again" });
		await sample("ada", north(12), 5);
		const removed = await client.ada.delete(`${places(family)}/${home.id}`);
		assert.equal(removed.status, 204);
		await socket.bob.waitFor("place:changed", c => c.change === "deleted" && c.placeId === home.id && !("place" in c));
		await waitFor(async () => (await sessionOf("bob", "ada")).place === null, { what: "no place once deleted" });
		await sample("ada", north(300), 5);
		assert.equal(placeNotices("bob").length, 2, `nothing more: ${placeNotices("bob").join(", ")}`);
		assert.deepEqual((await client.ada.get(places(family))).body, []);
	});

	test("a member sharing approximately is not announced at places (a place would give the position away); exact again, she is", async () => {
		const gym = await client.bob.post(places(family), { name: "Gym", ...north(3000), radius: 100 });
		assert.equal(gym.status, 201, JSON.stringify(gym.body));
		const precision = (value: string) => client.ada.request("PUT", `/api/groups/${family.id}/sharing/precision`, { precision: value });
		assert.equal((await precision("approximate")).status, 200);
		const before = placeNotices("bob").length;
		await sample("ada", north(3010), 5);
		assert.equal((await sessionOf("ada", "ada")).place?.id, gym.body.id, "her own view names the place");
		assert.equal((await sessionOf("bob", "ada")).place, null, "the others' view does not");
		assert.equal((await precision("exact")).status, 200);
		await sample("ada", north(3400), 5);
		// The departure comes from the same session's outbox as the arrival would have, after it.
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_LEFT" && n.title.endsWith("left Gym"));
		assert.deepEqual(placeNotices("bob").slice(before), ["PLACE_LEFT Ada Lovelace left Gym"]);
		assert.equal((await client.bob.delete(`${places(family)}/${gym.body.id}`)).status, 204);
	});

	test("a non-member gets 403 on every places route; an unknown place 404; bad fields 422 with the fields", async () => {
		const school = (await client.ada.post(places(family), { name: "School", latitude: 45.47, longitude: 9.2, radius: 150 })).body as Place;
		for (const res of [
			await client.eve.get(places(family)),
			await client.eve.post(places(family), { name: "Mine", ...HOME, radius: 50 }),
			await client.eve.patch(`${places(family)}/${school.id}`, { name: "Mine" }),
			await client.eve.delete(`${places(family)}/${school.id}`),
		])
			assert.deepEqual([res.status, res.body.type], [403, "FORBIDDEN"]);
		// A place of another group is unknown here, even to a member of both.
		const evesPlace = (await client.eve.post(places(evesGroup), { name: "Eve's", ...HOME, radius: 50 })).body as Place;
		for (const res of [
			await client.ada.patch(`${places(family)}/${evesPlace.id}`, { name: "Taken" }),
			await client.ada.delete(`${places(family)}/${evesPlace.id}`),
			await client.ada.delete(`${places(family)}/no-such-place`),
		])
			assert.deepEqual([res.status, res.body.type], [404, "NOT_FOUND"]);
		const bad = await client.ada.post(places(family), { name: "", latitude: 91, longitude: 9, radius: 10 });
		assert.equal(bad.status, 422);
		assert.deepEqual(bad.body.data.map((f: { field: string }) => f.field).sort(), ["latitude", "name", "radius"]);
		const control = await client.ada.post(places(family), { name: "Ho\u202eme", ...HOME, radius: 50 });
		assert.deepEqual([control.status, control.body.data[0].field], [422, "name"]);
		const tooBig = await client.ada.patch(`${places(family)}/${school.id}`, { radius: 5001 });
		assert.deepEqual([tooBig.status, tooBig.body.data[0].field], [422, "radius"]);
		assert.equal((await client.eve.get(places(evesGroup))).body.length, 1, "Eve's place untouched");
	});

	test("a group holds at most 50 places: the 51st is 409 and leaves nothing behind", async () => {
		const group = await client.eve.createGroup("Many places");
		const created = await Promise.all(
			Array.from({ length: 50 }, (_, i) => client.eve.post(places(group), { name: `Place ${i}`, latitude: 10 + i / 100, longitude: 10, radius: 25 })),
		);
		assert.deepEqual(
			created.map(res => res.status),
			Array(50).fill(201),
		);
		const more = await client.eve.post(places(group), { name: "One too many", latitude: 11, longitude: 11, radius: 25 });
		assert.deepEqual([more.status, more.body.type], [409, "CONFLICT"]);
		assert.match(more.body.message, /at most 50 places/);
		assert.equal((await client.eve.get(places(group))).body.length, 50);
	});
});

describe("journeys to a place, and moving the ETA", () => {
	let school: Place;

	before(async () => {
		school = (await client.ada.get(places(family))).body.find((p: Place) => p.name === "School");
		assert.ok(school);
	});

	test("destination { placeId } resolves to the place's name and coordinates; unknown 404, another group's 422", async () => {
		const eta = new Date(Date.now() + 3_600_000).toISOString();
		const unknown = await client.ada.post(`/api/groups/${family.id}/journey`, { destination: { placeId: "no-such-place" }, eta, mode: "walking" });
		assert.deepEqual([unknown.status, unknown.body.type], [404, "NOT_FOUND"]);
		const evesPlace = (await client.eve.get(places(evesGroup))).body[0] as Place;
		const foreign = await client.ada.post(`/api/groups/${family.id}/journey`, { destination: { placeId: evesPlace.id }, eta, mode: "walking" });
		assert.deepEqual([foreign.status, foreign.body.data?.[0]?.field], [422, "destination.placeId"]);
		const incomplete = await client.ada.post(`/api/groups/${family.id}/journey`, { destination: { name: "Somewhere" }, eta, mode: "walking" });
		assert.equal(incomplete.status, 422);
		assert.equal((await sessionOf("bob", "ada")).journey, null, "no refused start left anything");

		const started = await client.ada.post(`/api/groups/${family.id}/journey`, { destination: { placeId: school.id }, eta, mode: "walking" });
		assert.equal(started.status, 201, JSON.stringify(started.body));
		assert.deepEqual(started.body.journey.destination, {
			name: "School",
			latitude: school.latitude,
			longitude: school.longitude,
			placeId: school.id,
			radius: 150,
		});
		const notice = await socket.bob.waitFor("notification", (n: Notification) => n.kind === "JOURNEY_STARTED");
		assert.match(notice.body, /to School \(walking\)/);
	});

	test("PATCH journey { eta } moves the ETA and tells the group JOURNEY_UPDATED; a past ETA is 422; Eve is refused", async () => {
		const eta = new Date(Date.now() + 7_200_000).toISOString();
		const res = await client.ada.patch(`/api/groups/${family.id}/journey`, { eta });
		assert.equal(res.status, 200, JSON.stringify(res.body));
		assert.equal(res.body.journey.eta, eta);
		const notice = await socket.bob.waitFor("notification", (n: Notification) => n.kind === "JOURNEY_UPDATED");
		assert.equal(notice.subjectUserId, id("ada"));
		assert.match(notice.title, /^Ada Lovelace now expects to arrive by /);
		await socket.bob.waitFor("location:update", (s: Session) => s.userId === id("ada") && s.journey?.eta === eta);
		const past = await client.ada.patch(`/api/groups/${family.id}/journey`, { eta: new Date(Date.now() - 1000).toISOString() });
		assert.deepEqual([past.status, past.body.data?.[0]?.field], [422, "eta"]);
		const outsider = await client.eve.patch(`/api/groups/${family.id}/journey`, { eta });
		assert.equal(outsider.status, 403);
		const noJourney = await client.bob.patch(`/api/groups/${family.id}/journey`, { eta });
		assert.deepEqual([noJourney.status, noJourney.body.type], [409, "INVALID_STATE"]);
	});

	test("a LATE journey whose ETA moves ahead over the socket (journey:update) is ROUTING again, and LATE may come back", async () => {
		assert.equal((await client.ada.delete(`/api/groups/${family.id}/journey`)).status, 200);
		const soon = new Date(Date.now() + 1_500).toISOString();
		const started = await socket.ada.emit("journey:start", { groupId: family.id, destination: { placeId: school.id }, eta: soon, mode: "walking" });
		assert.equal(started.ok, true, JSON.stringify(started));
		const late = await socket.bob.waitFor("location:update", (s: Session) => s.userId === id("ada") && s.journey?.alerts.includes("LATE") === true, 15_000);
		assert.equal(late.state, "WARNING");
		const later = new Date(Date.now() + 2_500).toISOString();
		const moved = await socket.ada.emit("journey:update", { groupId: family.id, eta: later });
		assert.equal(moved.ok, true, JSON.stringify(moved));
		assert.deepEqual([moved.session.state, moved.session.journey.alerts, moved.session.journey.eta], ["ROUTING", [], later]);
		// The new ETA passes too: LATE again, and announced again.
		await socket.bob.waitFor(
			"location:update",
			(s: Session) => s.userId === id("ada") && s.journey?.eta === later && s.journey.alerts.includes("LATE"),
			15_000,
		);
		await waitFor(() => socket.bob.of("notification").filter((n: Notification) => n.kind === "LATE").length === 2, {
			what: "LATE announced twice",
			timeoutMs: 15_000,
		});
		const refused = await socket.eve.emit("journey:update", { groupId: family.id, eta: new Date(Date.now() + 3_600_000).toISOString() });
		assert.deepEqual([refused.ok, refused.error?.code], [false, 403]);
	});

	test("a journey to a place arrives within the place's radius", async () => {
		await sample("ada", { latitude: school.latitude + 120 / 111_195, longitude: school.longitude }, 5);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "ARRIVED");
		const session = await sessionOf("bob", "ada");
		assert.deepEqual([session.state, session.journey, session.place?.name], ["ACTIVE", null, "School"]);
		// Both notices come from the same transition; the place's may be delivered a moment after the journey's.
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_ARRIVED" && n.title.endsWith("School"));
		const arrivals = socket.bob.of("notification").filter((n: Notification) => n.kind === "PLACE_ARRIVED" && n.title.endsWith("School"));
		assert.equal(arrivals.length, 1);
	});
});
