import { authenticatedAliases, phoneEndpoints, publicAuthAliases, publicInviteLinkAliases, publicSharedAliases, SHARED_RATE_LIMIT } from "./routes.js";
import { SocketCommands } from "./socket-events.js";

/**
 * API documentation: what each public route and socket event does for a client, written by hand,
 * combined with the real route table and the actions' parameter schemas into OpenAPI 3 and
 * AsyncAPI documents. A test checks that every route is documented and every documented route
 * exists, so the two cannot drift.
 */

export interface RouteDoc {
	summary: string;
	/** What a client needs to know beyond the summary: the choices behind the route (OpenAPI `description`). */
	description?: string;
	/** HTTP status of a success. */
	status: number;
	/** What a success returns (a type of API.md §3), or "" for an empty body. */
	returns: string;
}

const LIMITS =
	"Limits: MAX_GROUPS_PER_USER [100] groups per user (creating, accepting and joining count; 409 beyond), MAX_GROUP_MEMBERS [50] members plus pending invitations per group (409 beyond), INVITE_RATE_LIMIT [50] invitations per user per hour (429 RATE_LIMITED with Retry-After beyond; 0 turns it off).";

/** A route's documentation by the status of its success: `ok` 200, `created` 201, `accepted` 202, `noContent` 204 (an empty body). */
const routeDoc =
	(status: number) =>
	(summary: string, returns: string, description?: string): RouteDoc => ({ summary, status, returns, ...(description ? { description } : {}) });
const ok = routeDoc(200);
const created = routeDoc(201);
const accepted = routeDoc(202);
const noContent = (summary: string, description?: string): RouteDoc => routeDoc(204)(summary, "", description);

export const routeDocs: Record<string, RouteDoc> = {
	"POST /api/auth/register": created("Create an account", "User"),
	"POST /api/auth/login": ok("Log in with email and password; returns an access token", "{ token, expiresAt, user }"),
	"POST /api/auth/logout": noContent("Revoke the current token everywhere"),
	"GET /api/users/me": ok("The caller's account", "User"),
	"PATCH /api/users/me": ok(
		"Update name, surname, email, phone or password (email and password need currentPassword)",
		"User",
		'phone (optional, extra field): a number the user gives their groups, in international form ("+39 333 123 4567"; spaces, dashes, dots, parentheses and a leading 00 are accepted and dropped); stored and returned as E.164 ("+393331234567"). "" or null removes it. Anything else is 422 VALIDATION_ERROR on field phone. Fellow members see it in the group\'s members (User.phone), e.g. to call during an SOS.',
	),
	"DELETE /api/users/me": noContent("Delete the account: leave every group, revoke every token"),
	"POST /api/groups": created(
		"Create a group; each of memberEmails gets an invitation, not a membership",
		"Group (with pendingInvitations)",
		`The answer never depends on whether an email has an account. The caller's own email and repeated emails are ignored. The list is all or nothing: when 1 + the emails exceed MAX_GROUP_MEMBERS (409) or the hourly invitation budget (429), no group is created. Invitations last 7 days. ${LIMITS}`,
	),
	"GET /api/groups": ok("The caller's groups", "Group[]"),
	"GET /api/groups/{groupId}": ok("One group (members only)", "Group"),
	"PATCH /api/groups/{groupId}": ok("Rename a group (any member)", "Group"),
	"DELETE /api/groups/{groupId}": noContent("Delete a group (its creator only)"),
	"POST /api/groups/{groupId}/members": accepted(
		"Invite someone by email (any member): an invitation, not a membership",
		"{ invitation: GroupInvitation }",
		`Same status, shape and timing whether or not the email has an account, and whether or not its holder blocked the caller (then it stays pending until it expires and is never shown to them). 409 CONFLICT only for a current member's email or one with a pending invitation. The holder of the email, if any, is told afterwards (notification INVITED and the socket event invitation); an email without an account sees it once it registers or an account changes to it. Invitations last 7 days. An invitation counts against the hourly budget once the group checks (403, 409) have passed. ${LIMITS}`,
	),
	"DELETE /api/groups/{groupId}/members/{userId}": ok("Remove a member (any member)", "Group"),
	"POST /api/groups/{groupId}/leave": noContent("Leave a group; the last member out deletes it"),
	"GET /api/groups/{groupId}/invitations": ok(
		"A group's pending invitations (any member)",
		"GroupInvitation[]",
		"Oldest first; expired and answered invitations are gone. An invitation whose addressee blocked the inviter is listed like the others until it expires.",
	),
	"DELETE /api/groups/{groupId}/invitations/{invitationId}": noContent(
		"Withdraw a pending invitation (any member)",
		"404 when the group has no such invitation.",
	),
	"GET /api/invitations": ok(
		"The invitations addressed to the caller's email that they can answer",
		"Invitation[]",
		"Oldest first. Leaves out expired invitations, those from inviters the caller blocked, and those to groups that are gone or that the caller is already in. Invitations sent before the caller's account (or email) existed are here too.",
	),
	"POST /api/invitations/{invitationId}/accept": ok(
		"Accept an invitation: the caller becomes a member",
		"Group",
		`The group then announces the new member as before (groups.memberAdded, MEMBER_ADDED, group:changed) and the inviter gets INVITATION_ACCEPTED. Only the addressee can answer: anyone else's, an expired or unknown invitation is 404. Accepting again after a success answers the group. ${LIMITS}`,
	),
	"POST /api/invitations/{invitationId}/decline": noContent(
		"Decline an invitation; block: true refuses every later invitation from that inviter",
		"A block is per inviter (any group) and silent: the inviter still gets 202 and sees later invitations pending until they expire; the caller never sees them. There is no route to lift a block.",
	),
	"POST /api/groups/{groupId}/invite-links": created(
		"Create an invite link (any member)",
		"{ id, code, url, expiresAt, maxUses, uses }",
		"expiresIn in seconds [604800, 60 to 2592000]; maxUses [10, 1 to 100]. The code (128 random bits, base64url) is in this answer only: the server stores its hash. url is the web client's join page, relative to this server's origin (/join/<code>). Creating links does not count against INVITE_RATE_LIMIT.",
	),
	"GET /api/groups/{groupId}/invite-links": ok(
		"A group's invite links that still work (any member)",
		"[{ id, groupId, createdBy, createdAt, expiresAt, maxUses, uses }]",
		"Without their codes (not stored). Expired, used-up and revoked links are left out.",
	),
	"DELETE /api/groups/{groupId}/invite-links/{linkId}": noContent("Revoke an invite link (any member); its code stops working at once"),
	"GET /api/invite-links/{code}": ok(
		"Preview an invite link; needs no token (the join page of a visitor who is not logged in)",
		"{ groupName, invitedBy: { name }, memberCount, expiresAt }",
		"invitedBy.name is the first name of the member who made the link. Expired, used-up, revoked and unknown codes are all 404.",
	),
	"POST /api/invite-links/{code}/join": ok(
		"Join the group of an invite link",
		"Group",
		`Takes one use (maxUses holds however many join at once); a member who follows the link again gets the group and takes no use. Expired, used-up, revoked and unknown codes are 404. ${LIMITS}`,
	),
	"POST /api/groups/{groupId}/sharing": ok("Start sharing location in a group", "Session"),
	"DELETE /api/groups/{groupId}/sharing": ok("Stop sharing location in a group (ends a journey)", "Session"),
	"POST /api/location/samples": accepted(
		"Send a position sample; applies to every group where the caller shares",
		"{ sessions: Session[] }",
		"409 INVALID_STATE when the caller shares in no group. At most SAMPLE_RATE_LIMIT [120] samples a minute per user from all their sources together (this route, the socket's location:sample, their phones), refilled evenly: 429 RATE_LIMITED with Retry-After beyond; 0 turns it off. Never refused during an SOS, and POST /api/sos is never limited.",
	),
	"POST /api/location/blocked": ok(
		"Say the caller's device may not read their location (permission denied)",
		"{ sessions: Session[] }",
		"Every group where the caller shares is told at once: their session gets locationBlocked: true (an extra field, absent otherwise) and an ACTIVE session becomes INACTIVE with sharing still on, so nobody sees a green Sharing with an old position; a journey or SOS goes on, marked. The next sample clears it (and brings an INACTIVE session back to ACTIVE). 409 INVALID_STATE when the caller shares in no group.",
	),
	"POST /api/groups/{groupId}/journey": created(
		"Start a journey with a destination, ETA and mode",
		"Session",
		"destination is { name, latitude, longitude } or { placeId }: one of the group's places, resolved at the start to its name and coordinates (the destination then also carries placeId and the place's radius; the journey arrives within max(ARRIVAL_RADIUS, radius) of its centre, so later edits of the place do not move a running journey). An unknown placeId is 404; a place of another group is 422 on destination.placeId.",
	),
	"PATCH /api/groups/{groupId}/journey": ok(
		"Move the ETA of the caller's running journey",
		"Session",
		"{ eta } in the future (422 otherwise); 409 INVALID_STATE without a running journey. A LATE alert clears when the new ETA is ahead (the session goes back to ROUTING unless STUCK or OFFLINE remain), and LATE may be announced again if the new ETA passes too. The group gets JOURNEY_UPDATED. Socket: journey:update.",
	),
	"DELETE /api/groups/{groupId}/journey": ok("End the current journey", "Session"),
	"POST /api/sos": created(
		"Raise an SOS in every group of the caller",
		"{ sessions: Session[] }",
		"Never rate-limited; the caller's samples are not limited while the SOS is on.",
	),
	"DELETE /api/sos": ok("End the SOS", "{ sessions: Session[] }"),
	"GET /api/groups/{groupId}/sessions": ok("Every member's session in a group", "Session[]"),
	"GET /api/groups/{groupId}/sessions/{userId}": ok("One member's session", "Session"),
	"GET /api/groups/{groupId}/sessions/{userId}/route": ok("The route recorded since the member's journey or SOS began", "{ points: Point[] }"),
	"GET /api/groups/{groupId}/places": ok("The group's places, oldest first (members only)", "Place[]"),
	"POST /api/groups/{groupId}/places": created(
		"Add a place to the group (any member): arrival and departure alerts for everyone sharing",
		"Place",
		"{ name (1–60 characters, whitespace runs made one space, no control or bidi characters), latitude, longitude, radius (25–5000 m) }. At most 50 places per group: 409 CONFLICT beyond. When a sharing member's position enters a place (most of its accuracy circle inside the radius) or leaves it (all of the circle beyond radius + max(25 m, 10 %)), the other members get PLACE_ARRIVED / PLACE_LEFT, once per crossing; fixes worse than 500 m are ignored. Creating or moving a place where someone stands announces nothing: whether they are inside is decided silently. Detection runs on the location instance owning the member, against the group's places held in memory: every instance drops its copy when a place changes (a broadcast) and after 30 s at most (a missed broadcast only delays an arrival; a place an instance does not know yet is decided silently once it does). The inside-set is stored with the session and a crossing's notification is written with it, so both survive a crash of that instance. The members' sockets get place:changed; their OwnTracks phones get the places as waypoints (setWaypoints, rid = place id) in their next answer, and a phone's transition for that rid counts as the crossing (once, whether the phone or the server saw it first).",
	),
	"PATCH /api/groups/{groupId}/places/{placeId}": ok(
		"Rename, move or resize a place (any member)",
		"Place",
		"Any of name, latitude, longitude, radius (limits as for POST); none answers the place unchanged. A move or resize announces nothing for whoever stands in or near it. 404 for a place that is not the group's.",
	),
	"DELETE /api/groups/{groupId}/places/{placeId}": noContent(
		"Delete a place (any member); nobody is announced as leaving it",
		"404 for a place that is not the group's. Journeys already heading there keep their destination.",
	),
	"GET /api/groups/{groupId}/messages": ok("A page of chat history (newest page first, oldest first within it)", "{ messages: Message[] }"),
	"POST /api/groups/{groupId}/messages": created(
		"Send a chat message (clientMessageId makes resends idempotent)",
		"Message",
		"At most CHAT_RATE_LIMIT [60] messages a minute per user, in every group and through the socket's chat:send together: 429 RATE_LIMITED with Retry-After beyond (0 turns it off). A resend of a message already stored is answered with it even then.",
	),
	"GET /api/groups/{groupId}/presence": ok("Which members are online", "[{ userId, online, lastSeenAt }]"),
	"POST /api/devices": created(
		"Register a phone (OwnTracks or OsmAnd/Traccar); its credentials are in this answer only",
		"Device & { credentials }",
		"At most 10 devices per user (409 beyond). owntracks credentials: { url, username, password, deviceId, tid, configUrl } — configUrl is owntracks:///config?inline=<base64 .otrc> (mode 3 HTTP, auth, monitoring 1 'significant changes', cmd and allowRemoteLocation on, remoteConfiguration on so iOS applies waypoints); show it as a QR code. osmand credentials: { url, id } — the server URL and device id for Traccar Client or OsmAnd (id: 34 base62 characters, ≥ 128 random bits). url is PUBLIC_URL (else the address this request came to) + /api/owntracks or /api/osmand. Secrets are stored as SHA-256 hashes and never shown again.",
	),
	"GET /api/devices": ok(
		"The caller's devices, oldest first, without secrets",
		"Device[]",
		"lastSeenAt is written at most once a minute per device, so it may be up to a minute behind.",
	),
	"DELETE /api/devices/{id}": noContent("Remove a device: its next report is refused with 401"),
	"POST /api/groups/{groupId}/members/{userId}/locate": accepted(
		"Where are you now? Ask a member's phones and browsers for a fresh position",
		"{ groupId, userId, devices }",
		"Members of the group only (403), about a member of it (404). The member's OwnTracks devices get a reportLocation command in their next answer, their open sockets get location:request { groupId, byUserId }, and they get a LOCATE_REQUESTED notification (not when asking about yourself). At most once a minute per asker and member: 429 with Retry-After sooner.",
	),
	"POST /api/owntracks": ok(
		"OwnTracks HTTP mode: one message from a registered phone",
		"OwnTracks messages: [card, location, …, cmd…]",
		"HTTP Basic auth with the device's username and password (401 with WWW-Authenticate: Basic for missing, wrong or removed credentials; X-Limit-U/X-Limit-D are ignored). Body: one JSON object, or empty. location (lat, lon, tst; acc, alt, vel km/h, cog, batt, bs) is a position sample of the device's user under the usual rules, stored before the answer; transition with the rid of one of the user's places is that arrival or departure (notified once, whether the phone or the server saw it first; a transition while not sharing in that group, or for an unknown place, is acknowledged and dropped); other types and an empty body → 200 []; _type encrypted → 422 UNSUPPORTED. Answer to a location or transition: a card and a location per person the user may see now (members of the user's groups who share there now — not INACTIVE — and the user), tids unique within the answer, then reportLocation when someone asked and setWaypoints when the user's places changed. 400 malformed JSON, 422 invalid values (a time more than 30 s ahead included), 503 while a dependency is down; never 500 (the iOS app drops a message on any 4xx and keeps it on 5xx). Too many reports — the user's samples over SAMPLE_RATE_LIMIT, or failed logins from the address over DEVICE_AUTH_RATE_LIMIT — are 503 too, with type RATE_LIMITED and Retry-After, so the app keeps the message and sends it again.",
	),
	"GET /api/osmand": ok(
		"OsmAnd protocol (Traccar Client, OsmAnd): one position in the query string",
		"",
		"id or deviceid (the device's id), lat + lon or location=lat,lon, timestamp (epoch s, epoch ms or ISO-8601; absent: now), speed (knots), bearing, altitude, accuracy (or hdop), batt, charge, alarm (sos raises an SOS at that position). 200 empty body; 400 invalid values or no id; 401 unknown or removed id; 429 with Retry-After after too many unknown ids from the client address (refused without a database lookup) and when the user's samples are over SAMPLE_RATE_LIMIT (Traccar Client keeps the position in its buffer and sends it again); 503 while a dependency is down.",
	),
	"POST /api/osmand": ok(
		"OsmAnd protocol: the same as GET, as a form body or Traccar Client 9's JSON",
		"",
		"application/x-www-form-urlencoded parameters (merged over the query string), or Traccar Client 9's JSON { device_id, location: { timestamp, coords: { latitude, longitude, accuracy, speed (m/s), heading, altitude }, battery: { level (0–1), is_charging }, extras: { alarm } } }. Statuses as for GET.",
	),
	"GET /api/users/me/history": ok(
		"The caller's own position history between from and to, as JSON, GPX 1.1 or GeoJSON",
		"{ points: Point[] } | GPX 1.1 | GeoJSON FeatureCollection",
		"Query: from, to (ISO-8601; default: the 24 h before to, to = now), format json [default] | gpx | geojson. json: 200 application/json { points: Point[] } oldest first (Point: latitude, longitude, timestamp, and accuracy, altitude, speed, heading, source when known). gpx: 200 application/gpx+xml, a GPX 1.1 document with one track and one trkseg per UTC day (ele when known). geojson: 200 application/geo+json, a FeatureCollection with one LineString Feature per UTC day (properties { day, times[] }; a one-point day repeats its point). gpx and geojson carry Content-Disposition: attachment. Every accepted sample of the caller (web, socket, phone, SOS), whatever the group, is kept HISTORY_DAYS [30] days (0: nothing is kept and this answers no points); points are written within about a second. 422 when from is after to, when the range exceeds 31 days, or when it holds more than 50,000 points (ask in parts). Only the caller's own history: no route reads anyone else's.",
	),
	"DELETE /api/users/me/history": noContent("Delete all of the caller's position history (points not yet written included)"),
	"PUT /api/groups/{groupId}/sharing/precision": ok(
		"Choose what the other members see of the caller's position in a group: exact or approximate",
		"{ groupId, userId, precision }",
		'Body { precision: exact | approximate } (members only: 403). approximate: the other members see the position snapped to the centre of a fixed ~1 km grid cell (accuracy covering the cell; no altitude, speed or heading) and no route, in sessions, a session, the route endpoint, live location:update and the OwnTracks answer; the caller always sees their own exact position, and an SOS is always exact. Sessions of an approximate member carry precision: "approximate" (absent: exact). Share links show the exact position whatever this says (their creator chose to share that link). Stored per user and group; leaving the group resets it. Answer: { groupId, userId, precision }.',
	),
	"POST /api/share-links": created(
		"Create a share link: the caller's own session in one group, read-only, for people without an account",
		"{ id, token, url, expiresAt, groupId, untilArrival }",
		"Body { groupId, duration? (seconds, 300–86400, default 3600), untilArrival?: boolean }. Only a member sharing in that group (403 otherwise; 404 unknown group); untilArrival needs a journey in progress there (409 INVALID_STATE) and ends the link when that journey ends (arrival or stop), or at expiresAt if sooner. At most 20 running links per user (409). Answer 201 { id, token, url, expiresAt, groupId, untilArrival }: token is 256 random bits (base64url, 43 characters), shown in this answer only (the server keeps its SHA-256); url is PUBLIC_URL (else the origin this request came to) + /s/<token>, the web client's share page. A link ends at expiresAt, when deleted, when its creator stops sharing in the group, leaves it, or deletes the account, and (untilArrival) when the journey ends; then GET /api/shared/<token> is 404 and its sockets are disconnected.",
	),
	"GET /api/share-links": ok(
		"The caller's share links that still show something, oldest first (no tokens: they are not stored)",
		"[{ id, groupId, createdAt, expiresAt, untilArrival }]",
	),
	"DELETE /api/share-links/{id}": noContent("End one of the caller's share links now (404 for anyone else's or an unknown id)"),
	"GET /api/shared/{token}": ok(
		"A share link's view; needs no account (the web client's /s/<token> page)",
		"{ name, state, position, journey, route, expiresAt, untilArrival }",
		`name is the creator's first name and surname initial ("Ada L."), as when the link was made. state, position (exact, with the Point details of §6.3), journey ({ destination, eta, mode, startedAt, alerts } or null) and route (the points since the journey or SOS began, oldest first; [] otherwise) are the creator's session in the link's group now. untilArrival (an addition to API.md) says the link ends with the journey, so a page can say "Arrived" when it does. On such a link the socket receives the journey's last location:update (journey null) before it is disconnected. 404 NOT_FOUND, the same answer for an unknown, deleted or ended token. At most ${SHARED_RATE_LIMIT} requests per minute per client address (429). Live updates: Socket.IO with auth { shareToken: <token> } receives location:update (a Session) for this session only and is disconnected when the link ends; an unknown or ended token fails the handshake with connect_error NOT_FOUND; every command on such a socket is refused with 403 FORBIDDEN. A share token is never accepted as a bearer token (401 on every other route).`,
	),
	"GET /api/notifications": ok("The caller's inbox, newest first, with the unread count", "{ notifications: Notification[], unread }"),
	"POST /api/notifications/read": ok("Mark some or all notifications read", "{ unread }"),
	"GET /api/notifications/push-key": ok("The VAPID public key for Web Push (404 when push is off)", "{ publicKey }"),
	"POST /api/notifications/subscriptions": created(
		"Register a browser PushSubscription",
		"",
		"The server POSTs to the endpoint, so where PUSH_ALLOW_PRIVATE_ENDPOINTS is off (the default in production) it must be an https URL whose host resolves to public addresses only: loopback, private and link-local addresses are 422 VALIDATION_ERROR (field endpoint), and the host is checked again before every push (a push to an endpoint that now resolves to a private address is skipped and logged). Registering your own endpoint again refreshes its keys; an endpoint registered by another account is 409 CONFLICT (not moved, and not said whose): unsubscribe it in the browser and subscribe again for a fresh one.",
	),
	"DELETE /api/notifications/subscriptions": noContent("Unregister a PushSubscription"),
	"GET /health": ok("Readiness: 200 when every service, NATS and the databases are up; 503 with the failing parts", "{ status }"),
};

export const socketDocs: Record<string, string> = {
	"sharing:start": "Start sharing in a group; ack { session }",
	"sharing:stop": "Stop sharing in a group; ack { session }",
	"location:sample":
		"Send a position sample; ack { sessions }. Over SAMPLE_RATE_LIMIT (per user, with REST and phones): { ok: false, error: { type: RATE_LIMITED, data: { retryAfter } } }",
	"journey:start": "Start a journey; ack { session }",
	"journey:update": "Move the ETA of the running journey ({ groupId, eta }, as PATCH /api/groups/{groupId}/journey); ack { session }",
	"journey:stop": "End the journey; ack { session }",
	"sos:start": "Raise an SOS; ack { sessions } (never rate-limited)",
	"sos:stop": "End the SOS; ack { sessions }",
	"chat:send":
		"Send a chat message; ack { message }. Over CHAT_RATE_LIMIT (per user, with REST): { ok: false, error: { type: RATE_LIMITED, data: { retryAfter } } }",
};

export const serverEventDocs: Record<string, string> = {
	"location:update":
		"A Session changed (every socket of every member of its group). When its subject shares approximately there (PUT …/sharing/precision), the other members get the snapped position with precision: approximate, the subject's own sockets the exact one. A share-link socket (auth { shareToken }) gets only its link's session, exact.",
	"chat:message": "A new Message in one of the user's groups",
	"chat:presence":
		"{ groupId, userId, online }: a member came online or went offline; also when a connected member joins (to the group), and the online members to a connected newcomer",
	notification: "A Notification for this user",
	"notifications:read":
		"{ unread, ids? }: the user marked notifications read (POST /api/notifications/read, on any device; ids absent = all): the unread count now",
	"group:changed": "{ groupId, change, userId? }: created, renamed, memberAdded, memberRemoved or deleted",
	invitation: "An Invitation addressed to this user (sent once their account is known; never from an inviter they blocked)",
	"location:request": "{ groupId, byUserId }: a member of groupId asks where you are (answer with a fresh location:sample)",
	"place:changed":
		"{ groupId, change, placeId, place? }: a place of the group was created, updated (place as it is now) or deleted (no place); read GET /api/groups/{groupId}/places again",
};

export interface RouteEntry {
	method: string;
	/** OpenAPI form: `/api/groups/{groupId}`. */
	path: string;
	action: string;
	authenticated: boolean;
	/** A phone app's endpoint (gateway/phones.ts): its own credentials and body, no action params to show. */
	phone?: boolean;
}

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

/** The gateway's real route table, as OpenAPI paths. */
export function routeTable(): RouteEntry[] {
	const entries: RouteEntry[] = [{ method: "GET", path: "/health", action: "gateway.health", authenticated: false }];
	const add = (prefix: string, aliases: Record<string, string>, authenticated: boolean) => {
		for (const [key, action] of Object.entries(aliases)) {
			const [method, path] = key.split(" ") as [string, string];
			entries.push({ method, path: toOpenApiPath(prefix + path), action, authenticated });
		}
	};
	add("/api/auth", publicAuthAliases, false);
	add("/api/invite-links", publicInviteLinkAliases, false);
	add("/api/shared", publicSharedAliases, false);
	add("/api", authenticatedAliases, true);
	for (const { method, path, handler } of phoneEndpoints) entries.push({ method, path, action: handler, authenticated: false, phone: true });
	return entries;
}

type Rule =
	| string
	| ({ type?: string; optional?: boolean; items?: Rule; props?: Record<string, Rule>; values?: unknown[]; min?: number; max?: number } & Record<
			string,
			unknown
	  >);

/** fastest-validator rules → JSON Schema, for the shapes clients send. */
export function jsonSchemaOf(rule: Rule): Record<string, unknown> {
	const r = typeof rule === "string" ? { type: rule.split("|")[0] } : rule;
	const bounds = (min: string, max: string) => ({ ...(r.min !== undefined ? { [min]: r.min } : {}), ...(r.max !== undefined ? { [max]: r.max } : {}) });
	switch (r.type) {
		case "string":
			return { type: "string", ...bounds("minLength", "maxLength") };
		case "email":
			return { type: "string", format: "email", ...bounds("minLength", "maxLength") };
		case "number":
			return { type: "number", ...bounds("minimum", "maximum") };
		case "boolean":
			return { type: "boolean" };
		case "equal":
			return { const: r.value };
		case "enum":
			return { enum: r.values };
		case "array":
			return { type: "array", ...(r.items ? { items: jsonSchemaOf(r.items) } : {}), ...bounds("minItems", "maxItems") };
		case "object":
			return r.props ? objectSchema(r.props) : { type: "object" };
		default:
			return {};
	}
}

function objectSchema(props: Record<string, Rule>): Record<string, unknown> {
	const properties: Record<string, unknown> = {};
	const required: string[] = [];
	for (const [name, rule] of Object.entries(props)) {
		if (name.startsWith("$$")) continue;
		properties[name] = jsonSchemaOf(rule);
		if (typeof rule === "string" ? !rule.includes("optional") : !rule.optional) required.push(name);
	}
	return { type: "object", properties, ...(required.length ? { required } : {}) };
}

/** The error answer of every route (API.md §2). */
const ERROR_SHAPE = "Error { name, message, code, type, data? } (API.md §2)";

/** An operation's summary and, when written, its description. */
const described = (doc: RouteDoc | undefined) => ({ summary: doc?.summary ?? "", ...(doc?.description ? { description: doc.description } : {}) });

/** An operation's success (its status, what it returns or `emptyBody`) and its error answer. */
const responses = (doc: RouteDoc | undefined, emptyBody: string, errors: string) => ({
	[String(doc?.status ?? 200)]: { description: doc?.returns || emptyBody },
	default: { description: errors },
});

/** The OpenAPI 3 document; `paramsOf` gives an action's params schema when its service is running. */
export function openApiDocument(paramsOf: (action: string) => Record<string, Rule> | undefined): Record<string, unknown> {
	const paths: Record<string, Record<string, unknown>> = {};
	for (const route of routeTable()) {
		const doc = routeDocs[`${route.method} ${route.path}`];
		const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map(m => m[1]!);
		const params = paramsOf(route.action) ?? {};
		const bodyProps = Object.fromEntries(Object.entries(params).filter(([name]) => !pathParams.includes(name)));
		const inQuery = route.method === "GET";
		if (route.phone) {
			(paths[route.path] ??= {})[route.method.toLowerCase()] = phoneOperation(route, doc);
			continue;
		}
		const operation: Record<string, unknown> = {
			...described(doc),
			operationId: route.action,
			...(route.authenticated ? { security: [{ bearer: [] }] } : {}),
			parameters: [
				...pathParams.map(name => ({ name, in: "path", required: true, schema: { type: "string" } })),
				...(inQuery
					? Object.entries(bodyProps)
							.filter(([n]) => !n.startsWith("$$"))
							.map(([name, rule]) => ({ name, in: "query", required: false, schema: jsonSchemaOf(rule) }))
					: []),
			],
			...(!inQuery && Object.keys(bodyProps).some(n => !n.startsWith("$$"))
				? { requestBody: { required: true, content: { "application/json": { schema: objectSchema(bodyProps) } } } }
				: {}),
			responses: responses(doc, "No content", ERROR_SHAPE),
		};
		(paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
	}
	return {
		openapi: "3.0.3",
		info: { title: "PositionPal API", version: "1.0.0", description: "REST contract of API.md §3; errors per §2." },
		components: {
			securitySchemes: {
				bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
				deviceBasic: { type: "http", scheme: "basic", description: "An OwnTracks device's username and password (POST /api/devices)" },
			},
		},
		paths,
	};
}

/** A phone app's endpoint: its body is the app's own format, described in words (API.md §6.2). */
function phoneOperation(route: RouteEntry, doc: RouteDoc | undefined): Record<string, unknown> {
	const ownTracks = route.path === "/api/owntracks";
	return {
		...described(doc),
		operationId: ownTracks ? "owntracks" : `osmand${route.method === "GET" ? "Query" : "Body"}`,
		...(ownTracks ? { security: [{ deviceBasic: [] }] } : {}),
		parameters: [],
		...(route.method === "POST"
			? {
					requestBody: {
						required: !ownTracks,
						content: ownTracks
							? { "application/json": { schema: { type: "object", properties: { _type: { type: "string" } } } } }
							: { "application/x-www-form-urlencoded": { schema: { type: "object" } }, "application/json": { schema: { type: "object" } } },
					},
				}
			: {}),
		responses: responses(doc, "Empty body", `${ERROR_SHAPE}; 401, 400, 422, 429 or 503, never 500`),
	};
}

/** The AsyncAPI document for the Socket.IO events of API.md §4. */
export function asyncApiDocument(): Record<string, unknown> {
	const channels: Record<string, unknown> = {};
	for (const [event, description] of Object.entries(socketDocs)) {
		channels[event] = {
			description,
			publish: { message: { name: event, description: `Calls ${SocketCommands[event]?.action}; acknowledged with { ok: true, ... } or { ok: false, error }` } },
		};
	}
	for (const [event, description] of Object.entries(serverEventDocs)) channels[event] = { description, subscribe: { message: { name: event } } };
	return {
		asyncapi: "2.6.0",
		info: {
			title: "PositionPal live events",
			version: "1.0.0",
			description:
				"Socket.IO on the gateway's port, path /socket.io, auth: { token } (a user), or auth: { shareToken } (a share link: location:update of that one session only, every command refused with 403, disconnected when the link ends).",
		},
		channels,
	};
}

/** A viewer that needs nothing from the network: the documents rendered as plain HTML tables. */
export function docsPage(openApi: Record<string, unknown>, asyncApi: Record<string, unknown>): string {
	const esc = (s: unknown) => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
	const rows: string[] = [];
	for (const [path, ops] of Object.entries(
		openApi.paths as Record<
			string,
			Record<string, { summary: string; responses: Record<string, { description: string }>; requestBody?: unknown; parameters?: unknown[] }>
		>,
	)) {
		for (const [method, op] of Object.entries(ops)) {
			const [status, response] = Object.entries(op.responses)[0]!;
			const input = op.requestBody ?? (op.parameters && op.parameters.length ? op.parameters : "");
			rows.push(
				`<tr><td><code>${esc(method.toUpperCase())}</code></td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td><td><pre>${esc(input ? JSON.stringify(input, null, 1) : "")}</pre></td><td>${esc(status)} ${esc(response.description)}</td></tr>`,
			);
		}
	}
	const events = Object.entries(asyncApi.channels as Record<string, { description: string; publish?: unknown }>).map(
		([name, ch]) => `<tr><td><code>${esc(name)}</code></td><td>${ch.publish ? "client → server" : "server → client"}</td><td>${esc(ch.description)}</td></tr>`,
	);
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>PositionPal API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}pre{margin:0;font-size:12px;white-space:pre-wrap}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>PositionPal API</h1><p>Machine-readable: <a href="/api/docs/openapi.json">OpenAPI 3</a> · <a href="/api/docs/asyncapi.json">AsyncAPI</a>. Every route under <code>/api</code> except register and login needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<h2>REST</h2><table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Input</th><th>Success</th></tr></thead><tbody>${rows.join("")}</tbody></table>
<h2>Socket.IO</h2><table><thead><tr><th>Event</th><th>Direction</th><th>Meaning</th></tr></thead><tbody>${events.join("")}</tbody></table></body></html>`;
}
