import { DomainEvents, type DomainEventType } from "./domain.js";

/**
 * Where the durable domain events live in NATS JetStream and who reads them: the one statement of
 * it that the services' consumers, the broker's stream set-up and the tests all read.
 */

/** Group and account changes, written by users and read by every service keeping a membership projection. */
export const MembershipEvents = [
	DomainEvents.groupCreated,
	DomainEvents.groupRenamed,
	DomainEvents.groupDeleted,
	DomainEvents.memberAdded,
	DomainEvents.memberRemoved,
	DomainEvents.userDeleted,
] as const satisfies readonly DomainEventType[];
export type MembershipEventType = (typeof MembershipEvents)[number];

/**
 * The event types each consuming service subscribes to. Every instance of a service joins one
 * durable consumer group named after the service, so the instances split its messages.
 */
export const Subscriptions = {
	location: MembershipEvents,
	chat: MembershipEvents,
	notification: [...MembershipEvents, DomainEvents.notificationSend],
	/** A deleted account's devices go with it. */
	devices: [DomainEvents.userDeleted],
} as const satisfies Record<string, readonly DomainEventType[]>;
export type ConsumerGroup = keyof typeof Subscriptions;

/** How long JetStream keeps an event: a consumer that was down this long still catches up. */
export const STREAM_KEEP_MS = 7 * 24 * 3600 * 1000;
/** Records that must outlive every event that can still be delivered (handled ids, group versions) are kept this long. */
export const OUTLIVES_STREAMS_MS = STREAM_KEEP_MS + 24 * 3600 * 1000;

/** The subject an event type travels on: @moleculer/channels prefixes it with the namespace. */
export const subjectOf = (namespace: string, type: DomainEventType): string => `${namespace}.${type}`;

/** The stream holding one subject, named as @moleculer/channels names it: the subject with dots as underscores. */
export const streamOfSubject = (subject: string): string => subject.split(".").join("_");

/** The stream of one event type in one namespace (e.g. `positionpal_groups_memberAdded`). */
export const streamName = (namespace: string, type: DomainEventType): string => streamOfSubject(subjectOf(namespace, type));
