import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import { atTime, nowSeconds, postOwnTracks, registerDevice, sendOsmAnd, type OsmAndCredentials, type OwnTracksCredentials } from "../support/phones.js";
import * as ownTracks from "../fixtures/owntracks/messages.js";
import * as osmAnd from "../fixtures/osmand/requests.js";
import type { Group, Notification, Session } from "../../events/types.js";

// Phones as members meet them (API.md §6.2, §6.3): requests shaped exactly like OwnTracks' and the
// OsmAnd-protocol clients', through the real gateway to every service, and what the other members
// of the group see over REST and Socket.IO — battery, accuracy, source — and what the OwnTracks
// answer carries back: the people sharing now, then "where are you now?".

let system: System;
const people = ["ada", "al", "bob", "carl", "dee", "eve"] as const;
type Person = (typeof people)[number];
const client = {} as Record<Person, ApiClient>;
const socket = {} as Record<Person, LiveSocket>;
/** Ada, Al, Bob, Carl and Dee; Eve is in a group of her own. */
let family: Group;
let evesGroup: Group;
let adaPhone: { id: string; credentials: OwnTracksCredentials };
let carlTraccar: { id: string; credentials: OsmAndCredentials };

const id = (who: Person) => client[who].user!.id;
/** The fixture's request with our device's id. */
const ours = (request: string) => request.replaceAll(osmAnd.DEVICE_ID, carlTraccar.credentials.id);

/** Updates about one member in the family group a socket received. */
const updatesAbout = (viewer: Person, subject: Person): Session[] =>
	socket[viewer].of("location:update").filter((s: Session) => s.userId === id(subject) && s.groupId === family.id);
const sessionOf = async (viewer: Person, subject: Person): Promise<Session> => {
	const res = await client[viewer].get(`/api/groups/${family.id}/sessions/${id(subject)}`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
};
/** Waits until `viewer` has seen a live update about `subject` at this time, and returns its position. */
const seenLive = async (viewer: Person, subject: Person, timestamp: string) =>
	(await waitFor(() => updatesAbout(viewer, subject).find(s => s.position?.timestamp === timestamp), { what: `${viewer} to see ${subject} at ${timestamp}` }))
		.position!;

before(async () => {
	system = await startSystem({ services: ["users", "location", "devices", "notification", "gateway"], env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" } });
	const names: Record<Person, [string, string]> = {
		ada: ["Ada", "Lovelace"],
		al: ["Al", "Lee"],
		bob: ["Bob", "Noyce"],
		carl: ["Carl", "Gauss"],
		dee: ["Dee", "Never"],
		eve: ["Eve", "Outsider"],
	};
	for (const who of people) {
		client[who] = new ApiClient(system.url);
		await client[who].signUp(...names[who]);
	}
	family = await client.ada.createGroup(
		"Family",
		(["al", "bob", "carl", "dee"] as const).map(who => client[who].user!.email),
	);
	evesGroup = await client.eve.createGroup("Eve's");
	for (const who of people) socket[who] = await connectSocket(system.url, client[who].token!);
	for (const who of ["ada", "al", "bob", "carl"] as const) assert.equal((await client[who].post(`/api/groups/${family.id}/sharing`)).status, 200);
	adaPhone = await registerDevice(client.ada, "owntracks", "Ada's iPhone");
	carlTraccar = await registerDevice(client.carl, "osmand", "Carl's Pixel");
});

after(async () => {
	for (const who of people) socket[who]?.close();
	await system?.stopAll();
});

describe("OwnTracks", () => {
	test("an iPhone's location reaches the group live and over REST, with its accuracy, battery, speed and source", async () => {
		const t = nowSeconds() - 5;
		const res = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.IOS_LOCATION, t));
		assert.equal(res.status, 200, res.text);
		assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
		const expected = {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: new Date(t * 1000).toISOString(),
			accuracy: 14,
			altitude: 27,
			speed: 5,
			heading: 270,
			battery: 85,
			charging: true,
			source: "owntracks",
		};
		assert.deepEqual(await seenLive("bob", "ada", expected.timestamp), expected);
		assert.deepEqual((await sessionOf("bob", "ada")).position, expected);
		assert.equal(updatesAbout("eve", "ada").length, 0, "nobody outside the group");
	});

	test("the answer puts on the map everyone sharing now, the user included, each card and location under one tid unique in the answer", async () => {
		// Bob shares from the web, with the details a browser knows.
		const bobSample = await socket.bob.emit("location:sample", { latitude: 52.3702, longitude: 4.8952, accuracy: 30, battery: 41, charging: false });
		assert.equal(bobSample.ok, true, JSON.stringify(bobSample));
		assert.equal(bobSample.sessions[0].position.source, "web");
		assert.equal((await client.al.post("/api/location/samples", { latitude: 52.36, longitude: 4.9, heading: 360 })).status, 202);

		const res = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.ANDROID_PING, nowSeconds() - 4));
		assert.equal(res.status, 200, res.text);
		const answer = res.json as { _type: string; tid: string; name?: string; lat?: number; batt?: number; acc?: number; topic?: string }[];
		const cards = answer.filter(m => m._type === "card");
		assert.deepEqual(cards.map(c => c.name).sort(), ["Ada Lovelace", "Al Lee", "Bob Noyce"], "Carl shares but has no position yet; Dee does not share");
		const tids = cards.map(c => c.tid);
		assert.equal(new Set(tids).size, tids.length, `tids unique: ${tids.join()}`);
		assert.ok(tids.every(tid => tid.length === 2));
		for (const card of cards) {
			const next = answer[answer.indexOf(card) + 1]!;
			assert.equal(next._type, "location");
			assert.equal(next.tid, card.tid);
		}
		const bob = answer[answer.indexOf(cards.find(c => c.name === "Bob Noyce")!) + 1]!;
		assert.deepEqual(
			{ lat: bob.lat, acc: bob.acc, batt: bob.batt, topic: bob.topic },
			{ lat: 52.3702, acc: 30, batt: 41, topic: `owntracks/${id("bob")}/${bob.tid}` },
		);
		assert.equal(
			answer.some(m => m._type === "cmd"),
			false,
			"nothing pending",
		);
	});

	test("someone who stops sharing leaves the map at the next answer", async () => {
		assert.equal((await client.al.delete(`/api/groups/${family.id}/sharing`)).status, 200);
		const res = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.ANDROID_PING, nowSeconds() - 3));
		assert.deepEqual(
			res.json
				.filter((m: { _type: string }) => m._type === "card")
				.map((c: { name: string }) => c.name)
				.sort(),
			["Ada Lovelace", "Bob Noyce"],
		);
	});

	test("every other message the apps send is acknowledged with []; an empty body too", async () => {
		for (const [what, body] of [
			["transition without rid", ownTracks.ANDROID_TRANSITION_WITHOUT_RID],
			["lwt", ownTracks.LWT],
			["card", ownTracks.CARD],
			["status", ownTracks.STATUS],
			["waypoints", ownTracks.WAYPOINTS],
			["waypoint", ownTracks.WAYPOINT],
			["steps", ownTracks.STEPS],
			["configuration", ownTracks.CONFIGURATION],
			["empty body", ""],
		] as const) {
			const res = await postOwnTracks(system.url, adaPhone.credentials, body);
			assert.equal(res.status, 200, `${what}: ${res.text}`);
			assert.deepEqual(res.json, [], what);
		}
	});

	test("a transition naming a region is taken and answered with the map (what a place crossing means arrives with places)", async () => {
		const res = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.IOS_TRANSITION_ENTER, nowSeconds() - 2));
		assert.equal(res.status, 200, res.text);
		assert.ok(res.json.some((m: { _type: string; name?: string }) => m._type === "card" && m.name === "Ada Lovelace"));
	});

	test("refused for good (4xx, which the app drops): encrypted 422 UNSUPPORTED, malformed JSON 400, invalid values and a time an hour ahead 422", async () => {
		const before = await sessionOf("bob", "ada");
		const encrypted = await postOwnTracks(system.url, adaPhone.credentials, ownTracks.ENCRYPTED);
		assert.equal(encrypted.status, 422);
		assert.equal(encrypted.json.type, "UNSUPPORTED");
		const malformed = await postOwnTracks(system.url, adaPhone.credentials, '{"_type":"location","lat":52.3');
		assert.equal(malformed.status, 400);
		assert.equal(malformed.json.type, "BAD_REQUEST");
		const invalid = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.MINIMAL_LOCATION, nowSeconds(), { lat: 91, batt: 140 }));
		assert.equal(invalid.status, 422);
		assert.deepEqual(
			invalid.json.data.map((f: { field: string }) => f.field),
			["lat", "batt"],
		);
		const ahead = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.MINIMAL_LOCATION, nowSeconds() + 3600));
		assert.equal(ahead.status, 422);
		assert.equal(ahead.json.type, "VALIDATION_ERROR");
		assert.deepEqual((await sessionOf("bob", "ada")).position, before.position, "nothing refused moved Ada");
	});

	test("a stale report (older than what the group sees) is acknowledged and moves nobody back in time", async () => {
		const before = await sessionOf("bob", "ada");
		const stale = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.MINIMAL_LOCATION, nowSeconds() - 3600));
		assert.equal(stale.status, 200);
		assert.deepEqual((await sessionOf("bob", "ada")).position, before.position);
	});
});

describe("OsmAnd protocol (Traccar Client, OsmAnd)", () => {
	test("Traccar Client for Android (GET, and an empty POST, with the query string): speed in knots, battery, source", async () => {
		const t = nowSeconds() - 30;
		const query = ours(osmAnd.TRACCAR_ANDROID_QUERY).replace("timestamp=1733221440", `timestamp=${t}`);
		const res = await sendOsmAnd(system.url, { query });
		assert.equal(res.status, 200);
		assert.equal(res.text, "", "an empty body");
		const position = await seenLive("ada", "carl", new Date(t * 1000).toISOString());
		assert.deepEqual(position, {
			latitude: 52.3760137,
			longitude: 4.8945309,
			timestamp: new Date(t * 1000).toISOString(),
			altitude: 27.30000114440918,
			speed: 1.5,
			heading: 182.4000015258789,
			battery: 85,
			source: "osmand",
		});
		const posted = await sendOsmAnd(system.url, { query: query.replace(`timestamp=${t}`, `timestamp=${t + 1}`), method: "POST" });
		assert.equal(posted.status, 200);
		await seenLive("ada", "carl", new Date((t + 1) * 1000).toISOString());
	});

	test("OsmAnd's own URL (time in milliseconds, hdop as accuracy) and a logger's form body (a date-time)", async () => {
		const ms = Date.now() - 20_000;
		assert.equal((await sendOsmAnd(system.url, { query: ours(osmAnd.OSMAND_QUERY).replace("timestamp=1733221440123", `timestamp=${ms}`) })).status, 200);
		const fromOsmAnd = await seenLive("ada", "carl", new Date(ms).toISOString());
		assert.equal(fromOsmAnd.accuracy, 12);
		assert.equal(fromOsmAnd.speed, 0.64, "1.25 (read as knots) is 0.64 m/s");

		const at = new Date(Date.now() - 15_000);
		const dateTime = `${at.toISOString().slice(0, 10)}+${at.toISOString().slice(11, 19).replaceAll(":", "%3A")}`;
		const form = ours(osmAnd.DATE_TIME_FORM).replace("2024-12-03+10%3A24%3A00", dateTime);
		assert.equal((await sendOsmAnd(system.url, { form })).status, 200);
		const fromForm = await seenLive("ada", "carl", new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString());
		assert.equal(fromForm.accuracy, 8);
	});

	test("Traccar Client 9's JSON (ISO time, speed in m/s, battery as a fraction and charging)", async () => {
		const iso = new Date(Date.now() - 10_000).toISOString();
		const res = await sendOsmAnd(system.url, { json: ours(osmAnd.TRACCAR_CLIENT_9_JSON).replaceAll("2024-12-03T10:24:00.512Z", iso) });
		assert.equal(res.status, 200, res.text);
		const position = await seenLive("ada", "carl", iso);
		assert.deepEqual(
			{ speed: position.speed, battery: position.battery, charging: position.charging, accuracy: position.accuracy },
			{ speed: 1.6, battery: 56, charging: true, accuracy: 9.5 },
		);
		assert.deepEqual((await sessionOf("bob", "carl")).position, position);
	});

	test("invalid values are 400, an unknown id 401", async () => {
		const invalid = await sendOsmAnd(system.url, { query: `id=${carlTraccar.credentials.id}&lat=95&lon=4` });
		assert.equal(invalid.status, 400);
		assert.equal(invalid.json.type, "BAD_REQUEST");
		assert.equal((await sendOsmAnd(system.url, { query: "lat=45&lon=9" })).status, 400, "no id");
		assert.equal(
			(
				await sendOsmAnd(system.url, {
					query: ours(osmAnd.TRACCAR_ANDROID_QUERY).replace(carlTraccar.credentials.id, `${carlTraccar.credentials.id.slice(0, 12)}${"A".repeat(22)}`),
				})
			).status,
			401,
		);
	});

	test("alarm=sos raises an SOS at that position: the group sees it and is notified", async () => {
		const t = nowSeconds() - 2;
		const res = await sendOsmAnd(system.url, { query: ours(osmAnd.TRACCAR_ANDROID_SOS_QUERY).replace("timestamp=1733221500", `timestamp=${t}`) });
		assert.equal(res.status, 200, res.text);
		const update = await waitFor(() => updatesAbout("ada", "carl").find(s => s.state === "SOS"), { what: "Ada to see Carl's SOS" });
		assert.deepEqual(
			{ latitude: update.position?.latitude, charging: update.position?.charging, battery: update.position?.battery, source: update.position?.source },
			{ latitude: 52.3781, charging: true, battery: 23, source: "osmand" },
		);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "SOS" && n.subjectUserId === id("carl"));
		// The app repeats the alarm: a sample of the SOS on, not an error.
		assert.equal(
			(await sendOsmAnd(system.url, { query: ours(osmAnd.TRACCAR_ANDROID_SOS_QUERY).replace("timestamp=1733221500", `timestamp=${t + 1}`) })).status,
			200,
		);
		assert.equal((await client.carl.delete("/api/sos")).status, 200);
	});
});

describe("where are you now?", () => {
	test("a member asks: the member's sockets hear location:request, they are notified, and their phone gets reportLocation in its next answer, once", async () => {
		const asked = await client.bob.post(`/api/groups/${family.id}/members/${id("ada")}/locate`);
		assert.equal(asked.status, 202, JSON.stringify(asked.body));
		assert.deepEqual(asked.body, { groupId: family.id, userId: id("ada"), devices: 1 });
		assert.deepEqual(await socket.ada.waitFor("location:request"), { groupId: family.id, byUserId: id("bob") });
		const notification = (await socket.ada.waitFor("notification", (n: Notification) => n.kind === "LOCATE_REQUESTED")) as Notification;
		assert.equal(notification.title, "Bob Noyce asked where you are");
		assert.equal(notification.subjectUserId, id("bob"));
		assert.equal(socket.bob.of("location:request").length, 0, "only the member asked");
		assert.equal(socket.bob.of("notification").filter((n: Notification) => n.kind === "LOCATE_REQUESTED").length, 0);

		const next = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.ANDROID_PING, nowSeconds() - 1));
		assert.equal(next.status, 200);
		assert.deepEqual(next.json.at(-1), { _type: "cmd", action: "reportLocation" });
		assert.equal(next.json.filter((m: { _type: string }) => m._type === "cmd").length, 1);
		// The app answers with a fresh location (t: "r"); that answer carries no command any more.
		const response = await postOwnTracks(system.url, adaPhone.credentials, atTime(ownTracks.ANDROID_RESPONSE_FULL, nowSeconds()));
		assert.equal(response.status, 200);
		assert.equal(
			response.json.some((m: { _type: string }) => m._type === "cmd"),
			false,
		);
	});

	test("at most once a minute per asker and member (429 with Retry-After); another asker may", async () => {
		const again = await client.bob.post(`/api/groups/${family.id}/members/${id("ada")}/locate`);
		assert.equal(again.status, 429);
		assert.equal(again.body.type, "RATE_LIMITED");
		assert.ok(Number(again.headers.get("retry-after")) > 0 && Number(again.headers.get("retry-after")) <= 60);
		assert.equal((await client.carl.post(`/api/groups/${family.id}/members/${id("ada")}/locate`)).status, 202);
		assert.equal((await client.bob.post(`/api/groups/${family.id}/members/${id("carl")}/locate`)).status, 202, "and about another member");
	});

	test("only members ask, only about members: a stranger 403, an unknown member or group 404", async () => {
		const stranger = await client.eve.post(`/api/groups/${family.id}/members/${id("ada")}/locate`);
		assert.equal(stranger.status, 403);
		assert.equal(stranger.body.type, "FORBIDDEN");
		assert.equal((await client.bob.post(`/api/groups/${family.id}/members/${id("eve")}/locate`)).status, 404);
		assert.equal((await client.bob.post(`/api/groups/${evesGroup.id}/members/${id("eve")}/locate`)).status, 403);
		assert.equal((await client.bob.post(`/api/groups/00000000-0000-4000-8000-000000000000/members/${id("ada")}/locate`)).status, 404);
		assert.equal(socket.eve.of("location:request").length, 0);
	});
});

describe("places on the phone (API.md §6.4): waypoints and transitions", () => {
	const OFFICE = { latitude: 52.3702, longitude: 4.8952 };
	let office: { id: string; name: string; latitude: number; longitude: number; radius: number; createdAt: string };
	/** Sample times after every earlier test's, a second apart (a sample not newer than the last is ignored). */
	let tst = 0;
	before(() => {
		tst = nowSeconds() + 1;
	});
	const post = (fixture: string, extra: Record<string, unknown> = {}) => postOwnTracks(system.url, adaPhone.credentials, atTime(fixture, tst++, extra));
	const waypointsIn = (answer: { _type: string; action?: string; waypoints?: { waypoints: unknown[] } }[]) =>
		answer.filter(m => m._type === "cmd" && m.action === "setWaypoints").map(m => m.waypoints!.waypoints);
	const placeNotices = () =>
		socket.bob
			.of("notification")
			.filter((n: Notification) => n.kind.startsWith("PLACE_") && n.subjectUserId === id("ada"))
			.map((n: Notification) => n.title);

	test("a place of the user's group reaches their phone as a waypoint (setWaypoints) once, and again when it changes", async () => {
		const created = await client.bob.post(`/api/groups/${family.id}/places`, { name: "Office", ...OFFICE, radius: 100 });
		assert.equal(created.status, 201, JSON.stringify(created.body));
		office = created.body;
		const first = await post(ownTracks.ANDROID_PING);
		assert.equal(first.status, 200, first.text);
		assert.deepEqual(waypointsIn(first.json), [
			[
				{
					_type: "waypoint",
					desc: "Office",
					lat: OFFICE.latitude,
					lon: OFFICE.longitude,
					rad: 100,
					tst: Math.floor(Date.parse(office.createdAt) / 1000),
					rid: office.id,
				},
			],
		]);
		assert.deepEqual(waypointsIn((await post(ownTracks.ANDROID_PING)).json), [], "sent once");
		// Eve's places are not Ada's: nothing new for Ada's phone.
		assert.equal((await client.eve.post(`/api/groups/${evesGroup.id}/places`, { name: "Eve's", ...OFFICE, radius: 50 })).status, 201);
		assert.deepEqual(waypointsIn((await post(ownTracks.ANDROID_PING)).json), []);
		assert.equal((await client.ada.patch(`/api/groups/${family.id}/places/${office.id}`, { name: "The office" })).status, 200);
		const renamed = waypointsIn((await post(ownTracks.ANDROID_PING)).json);
		assert.deepEqual(
			renamed.map(list => list.map(w => (w as { desc: string }).desc)),
			[["The office"]],
		);
		assert.deepEqual(placeNotices(), [], "Ada was never at the office");
	});

	test("the phone's transition counts as the crossing, and the server's detection of the same crossing does not notify again", async () => {
		const enter = await post(ownTracks.IOS_TRANSITION_ENTER, { rid: office.id, lat: OFFICE.latitude, lon: OFFICE.longitude });
		assert.equal(enter.status, 200, enter.text);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_ARRIVED" && n.subjectUserId === id("ada"));
		assert.deepEqual((await sessionOf("bob", "ada")).place, { id: office.id, name: "The office" });
		// Her location at the office (the server sees her inside) and the app retrying the transition: nothing more.
		assert.equal((await post(ownTracks.MINIMAL_LOCATION, { lat: OFFICE.latitude, lon: OFFICE.longitude, acc: 10 })).status, 200);
		assert.equal((await post(ownTracks.IOS_TRANSITION_ENTER, { rid: office.id })).status, 200);
		// A region of the app's own, and a place that is not hers: acknowledged, nothing happens.
		assert.equal((await post(ownTracks.IOS_TRANSITION_ENTER, { rid: "6750a0f1c2b3d4e5f6a7b8c9" })).status, 200);
		const evesPlace = (await client.eve.get(`/api/groups/${evesGroup.id}/places`)).body[0];
		assert.equal((await post(ownTracks.IOS_TRANSITION_ENTER, { rid: evesPlace.id })).status, 200);
		// The server sees her leave first (far away, a precise fix); the phone's late "leave" is the same crossing.
		assert.equal((await post(ownTracks.MINIMAL_LOCATION, { lat: 52.3902, lon: 4.8952, acc: 10 })).status, 200);
		await socket.bob.waitFor("notification", (n: Notification) => n.kind === "PLACE_LEFT" && n.subjectUserId === id("ada"));
		assert.equal((await post(ownTracks.ANDROID_TRANSITION_LEAVE, { rid: office.id })).status, 200);
		assert.equal((await sessionOf("bob", "ada")).place, null);
		// Everything above has been applied once the session shows her last position.
		await waitFor(async () => (await sessionOf("bob", "ada")).position?.latitude === 52.3902, { what: "Ada's last position" });
		assert.deepEqual(placeNotices(), ["Ada Lovelace arrived at The office", "Ada Lovelace left The office"]);
		assert.equal(socket.ada.of("notification").filter((n: Notification) => n.kind.startsWith("PLACE_")).length, 0, "not told about herself");
	});
});
