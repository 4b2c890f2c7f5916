import { test } from "node:test";
import assert from "node:assert/strict";
import { AllDomainEvents, DomainEvents } from "../../events/domain.js";
import { isMember, memberIdsOf } from "../../events/membership.js";
import { MembershipEvents, streamName, Subscriptions } from "../../events/streams.js";

test("a member is listed in a group that is not deleted; nobody is a member of a deleted or unknown group", () => {
	const group = { memberIds: ["ada", "bob"], deleted: false };
	assert.equal(isMember(group, "ada"), true);
	assert.equal(isMember(group, "cy"), false);
	assert.equal(isMember({ memberIds: ["ada"], deleted: true }, "ada"), false);
	assert.equal(isMember({ memberIds: ["ada"] }, "ada"), true, "a copy without the flag is not deleted");
	assert.equal(isMember(null, "ada"), false);
	assert.deepEqual(memberIdsOf(group), ["ada", "bob"]);
	assert.deepEqual(memberIdsOf({ memberIds: ["ada"], deleted: true }), []);
	assert.deepEqual(memberIdsOf(undefined), []);
});

test("each event type has its stream, named as @moleculer/channels names it: namespace and subject, dots as underscores", () => {
	assert.equal(streamName("positionpal", DomainEvents.memberAdded), "positionpal_groups_memberAdded");
	assert.equal(streamName("t-1a2b", DomainEvents.notificationSend), "t-1a2b_notifications_send");
	assert.equal(new Set(AllDomainEvents.map(type => streamName("ns", type))).size, AllDomainEvents.length);
});

test("every projection subscribes to every membership event; notification also to its commands", () => {
	for (const service of ["location", "chat", "notification"] as const) {
		for (const type of MembershipEvents) assert.ok((Subscriptions[service] as readonly string[]).includes(type), `${service} reads ${type}`);
	}
	assert.deepEqual(
		Subscriptions.notification.filter(type => !(MembershipEvents as readonly string[]).includes(type)),
		[DomainEvents.notificationSend],
	);
	assert.deepEqual(Object.keys(Subscriptions).sort(), ["chat", "devices", "location", "notification"]);
});

test("the devices service reads only account deletions: a deleted account's phones go with it", () => {
	assert.deepEqual(Subscriptions.devices, [DomainEvents.userDeleted]);
});
