import { newEnvelope } from "../../mixins/outbox-relay.mixin.js";
import { DomainEvents, type Envelope } from "../../events/domain.js";
import type { UserRef } from "../../events/types.js";
import type { GroupOutcome, GroupState } from "./groups.js";
import { invitationAcceptedNotice, memberAddedNotice, memberJoinedByLinkNotice, memberRemovedNotice } from "./group-notices.js";
import type { NamedSnapshot } from "./members.js";

/**
 * The durable events (and member notifications) that announce a group's outcomes, written to the
 * group's outbox in the same update as the change. `snapshot` is the group after the change; its
 * `refs` also name the members the change removed.
 */
export function outcomeEvents(state: GroupState, outcomes: readonly GroupOutcome[], actorId: string, snapshot: NamedSnapshot): Envelope[] {
	const { refs, ...base } = snapshot;
	// A member whose user document could not be read is still announced, by id.
	const ref = (id: string): UserRef => refs.get(id) ?? { id, name: "Someone", surname: "" };
	const actor = ref(actorId);
	const events: Envelope[] = [];
	for (const outcome of outcomes) {
		switch (outcome.change) {
			case "created":
				events.push(newEnvelope(DomainEvents.groupCreated, { groupId: state.id, createdBy: ref(state.createdBy), ...base }));
				break;
			case "renamed":
				events.push(newEnvelope(DomainEvents.groupRenamed, { groupId: state.id, ...base }));
				break;
			case "deleted":
				events.push(newEnvelope(DomainEvents.groupDeleted, { groupId: state.id, ...base, members: [], deleted: true }));
				break;
			case "memberAdded": {
				const member = ref(outcome.userId!);
				// A member who joined by consent was added by their inviter (or the link's creator).
				const by = outcome.by ?? actorId;
				events.push(newEnvelope(DomainEvents.memberAdded, { groupId: state.id, member, by, ...base }));
				const notice = outcome.via === "link" ? memberJoinedByLinkNotice(state, member, ref(by)) : memberAddedNotice(state, member, ref(by));
				events.push(newEnvelope(DomainEvents.notificationSend, notice));
				if (outcome.via === "invitation") events.push(newEnvelope(DomainEvents.notificationSend, invitationAcceptedNotice(state, member, by)));
				break;
			}
			case "memberRemoved": {
				const member = ref(outcome.userId!);
				events.push(newEnvelope(DomainEvents.memberRemoved, { groupId: state.id, member, by: actorId, ...base }));
				events.push(newEnvelope(DomainEvents.notificationSend, memberRemovedNotice(state, member, actor)));
				break;
			}
		}
	}
	return events;
}
