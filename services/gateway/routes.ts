/**
 * The REST route table of API.md §3: every public route, mapped explicitly to one action.
 * Nothing else is reachable through the gateway (`mappingPolicy: "restrict"`).
 */

/** Routes under `/api/auth` that need no token; rate limited per client address. */
export const publicAuthAliases: Record<string, string> = {
	"POST /register": "users.register",
	"POST /login": "users.login",
};

/**
 * Routes under `/api/invite-links` that need no token: the preview a logged-out visitor of the
 * web client's `/join/<code>` page sees (API.md §6.1). Joining needs a token (below).
 */
export const publicInviteLinkAliases: Record<string, string> = {
	"GET /:code": "users.previewInviteLink",
};

/**
 * Routes under `/api/shared` that need no token: a share link's view for anyone holding its token
 * (API.md §6.5), limited to SHARED_RATE_LIMIT requests per minute per client address. A share token is
 * never a bearer token: every other route refuses it (401).
 */
export const publicSharedAliases: Record<string, string> = {
	"GET /:token": "location.sharedView",
};
export const SHARED_RATE_LIMIT = 120;

/** Routes that need `Authorization: Bearer <token>`. */
export const authenticatedAliases: Record<string, string> = {
	"POST /auth/logout": "users.logout",
	"GET /users/me": "users.me",
	"PATCH /users/me": "users.update",
	"DELETE /users/me": "users.remove",
	"GET /users/me/history": "location.history",
	"DELETE /users/me/history": "location.deleteHistory",

	"POST /groups": "users.createGroup",
	"GET /groups": "users.listGroups",
	"GET /groups/:groupId": "users.getGroup",
	"PATCH /groups/:groupId": "users.renameGroup",
	"DELETE /groups/:groupId": "users.deleteGroup",
	"POST /groups/:groupId/members": "users.invite",
	"DELETE /groups/:groupId/members/:userId": "users.removeMember",
	"POST /groups/:groupId/leave": "users.leaveGroup",

	"GET /groups/:groupId/invitations": "users.groupInvitations",
	"DELETE /groups/:groupId/invitations/:invitationId": "users.revokeInvitation",
	"GET /invitations": "users.myInvitations",
	"POST /invitations/:invitationId/accept": "users.acceptInvitation",
	"POST /invitations/:invitationId/decline": "users.declineInvitation",
	"POST /groups/:groupId/invite-links": "users.createInviteLink",
	"GET /groups/:groupId/invite-links": "users.inviteLinks",
	"DELETE /groups/:groupId/invite-links/:linkId": "users.revokeInviteLink",
	"POST /invite-links/:code/join": "users.joinByInviteLink",

	"POST /groups/:groupId/sharing": "location.startSharing",
	"DELETE /groups/:groupId/sharing": "location.stopSharing",
	"POST /location/samples": "location.addSample",
	"POST /location/blocked": "location.reportBlocked",
	"POST /groups/:groupId/journey": "location.startJourney",
	"PATCH /groups/:groupId/journey": "location.updateJourney",
	"DELETE /groups/:groupId/journey": "location.stopJourney",
	"POST /sos": "location.startSos",
	"DELETE /sos": "location.stopSos",
	"GET /groups/:groupId/sessions": "location.groupSessions",
	"GET /groups/:groupId/sessions/:userId": "location.memberSession",
	"GET /groups/:groupId/sessions/:userId/route": "location.memberRoute",
	"GET /groups/:groupId/places": "location.listPlaces",
	"POST /groups/:groupId/places": "location.createPlace",
	"PATCH /groups/:groupId/places/:placeId": "location.updatePlace",
	"DELETE /groups/:groupId/places/:placeId": "location.removePlace",
	"PUT /groups/:groupId/sharing/precision": "location.setPrecision",
	"POST /share-links": "location.createShareLink",
	"GET /share-links": "location.shareLinks",
	"DELETE /share-links/:id": "location.deleteShareLink",

	"GET /groups/:groupId/messages": "chat.history",
	"POST /groups/:groupId/messages": "chat.send",
	"GET /groups/:groupId/presence": "chat.presence",

	"POST /devices": "devices.create",
	"GET /devices": "devices.list",
	"DELETE /devices/:id": "devices.remove",
	"POST /groups/:groupId/members/:userId/locate": "devices.locate",

	"GET /notifications": "notification.list",
	"POST /notifications/read": "notification.markRead",
	"GET /notifications/push-key": "notification.pushKey",
	"POST /notifications/subscriptions": "notification.subscribe",
	"DELETE /notifications/subscriptions": "notification.unsubscribe",
};

/**
 * The phone apps' endpoints (API.md §6.2), outside the table above: their own credentials (HTTP Basic,
 * the device id) and status codes (services/gateway/phones.ts). Listed for the API documentation.
 */
export const phoneEndpoints: { method: string; path: string; handler: string }[] = [
	{ method: "POST", path: "/api/owntracks", handler: "gateway (OwnTracks HTTP mode) → devices.ownTracks" },
	{ method: "GET", path: "/api/osmand", handler: "gateway (OsmAnd protocol) → devices.osmAnd" },
	{ method: "POST", path: "/api/osmand", handler: "gateway (OsmAnd protocol) → devices.osmAnd" },
];

/** `Location` of a 201: the created resource where it has its own URL, else the collection posted to. */
export function createdLocation(url: string, data: unknown): string {
	const path = url.split("?")[0]!;
	const created = data as { id?: unknown; groupId?: unknown; userId?: unknown } | null;
	if (path === "/api/auth/register") return "/api/users/me";
	if (path === "/api/groups" && typeof created?.id === "string") return `/api/groups/${created.id}`;
	if (path.endsWith("/places") && typeof created?.id === "string") return `${path}/${created.id}`;
	if (path.endsWith("/journey") && typeof created?.groupId === "string" && typeof created.userId === "string")
		return `/api/groups/${created.groupId}/sessions/${created.userId}`;
	return path;
}
