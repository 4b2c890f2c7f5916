import type { Service } from "moleculer";
import { ExclusiveRun } from "../../lib/concurrency.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import type { NotificationDoc, NotificationModels, PushJobDoc } from "./models.js";
import { pushJobId, toNotification } from "./inbox.js";
import { attemptPush, MAX_PUSH_ATTEMPTS, pushPayload, pushRetryDelayMs, type EndpointPolicy, type PushConfig } from "./push.js";

const PUSH_BATCH = 20;
/** A claimed job is invisible to other instances this long: longer than one send may take. */
const PUSH_LEASE_MS = 30_000;

/** The host of an endpoint, for logs (its path identifies the subscription). */
const hostOf = (endpoint: string) => {
	try {
		return new URL(endpoint).host;
	} catch {
		return "(not a URL)";
	}
};

export interface PushQueueDeps {
	/** The service's models, once its database is connected. */
	models: () => NotificationModels;
	push: PushConfig;
	endpointPolicy: EndpointPolicy;
	logger: Service["logger"];
}

/**
 * The Web Push queue in the notification database: one job per notification and subscription,
 * claimed with a lease so every instance works the same queue, retried with back-off, dropped when
 * the endpoint policy refuses it, deleted with the subscription when the push service says it is gone.
 */
export class PushQueue {
	/** One worker run at a time on this instance. */
	private readonly run = new ExclusiveRun();
	/** Jobs may have been queued since the running worker's last read: it reads once more. */
	private again = false;

	constructor(private readonly deps: PushQueueDeps) {}

	/** Queues the notification for each of its recipient's subscriptions (idempotent per pair). */
	async enqueue(doc: NotificationDoc): Promise<void> {
		if (!this.deps.push.enabled) return;
		const models = this.deps.models();
		const subscriptions = await models.PushSubscription.find({ userId: doc.userId }).lean();
		if (!subscriptions.length) return;
		const payload = pushPayload(toNotification(doc));
		const now = new Date();
		const jobs: PushJobDoc[] = subscriptions.map(sub => ({
			_id: pushJobId(doc._id, sub._id),
			userId: doc.userId,
			subscriptionId: sub._id,
			endpoint: sub.endpoint,
			keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth },
			payload,
			attempts: 0,
			nextAttemptAt: now,
			createdAt: now,
		}));
		try {
			await models.PushJob.insertMany(jobs, { ordered: false });
		} catch (err) {
			// Jobs already queued by an interrupted earlier attempt: the rest were inserted.
			if (!isDuplicateKey(err)) throw err;
		}
		this.kick();
	}

	/** Runs the worker soon, without waiting for it. */
	kick(): void {
		if (!this.deps.push.enabled) return;
		setImmediate(() => void this.work().catch((err: Error) => this.deps.logger.warn("Push worker failed:", err.message)));
	}

	/** Waits for a running worker (at most `ms`). */
	idle(ms: number): Promise<void> {
		return this.run.idle(ms);
	}

	/** Sends every due job; a call while a run is under way makes that run read the queue once more. */
	private async work(): Promise<void> {
		this.again = true;
		await this.run.runIfIdle(async () => {
			const models = this.deps.models();
			while (this.again) {
				this.again = false;
				const now = new Date();
				const due: PushJobDoc[] = await models.PushJob.find({ nextAttemptAt: { $lte: now } })
					.sort({ nextAttemptAt: 1 })
					.limit(PUSH_BATCH)
					.lean();
				const claimed: PushJobDoc[] = [];
				for (const job of due) {
					const won = await models.PushJob.findOneAndUpdate(
						{ _id: job._id, nextAttemptAt: job.nextAttemptAt },
						{ $set: { nextAttemptAt: new Date(now.getTime() + PUSH_LEASE_MS) } },
						{ returnDocument: "after" },
					).lean();
					if (won) claimed.push(won);
				}
				await Promise.all(claimed.map(job => this.send(job)));
				if (due.length === PUSH_BATCH) this.again = true;
			}
		});
	}

	private async send(job: PushJobDoc): Promise<void> {
		const { push, endpointPolicy, logger } = this.deps;
		if (!push.enabled) return;
		const models = this.deps.models();
		const attempt = await attemptPush({ endpoint: job.endpoint, keys: job.keys }, job.payload, push.vapid, endpointPolicy);
		const status = "status" in attempt ? attempt.status : undefined;
		switch (attempt.outcome) {
			case "sent":
				await models.PushJob.deleteOne({ _id: job._id });
				return;
			case "refused":
				// Its host now resolves to a private address (or it was registered before the policy): not sent.
				// The host only: the rest of an endpoint is its owner's secret.
				await models.PushJob.deleteOne({ _id: job._id });
				logger.warn(`Push to ${job.userId} skipped: ${hostOf(job.endpoint)} ${attempt.reason}; dropped this message`);
				return;
			case "gone":
				// The browser unsubscribed or the subscription expired: it will never work again.
				logger.info(`Push subscription of ${job.userId} is gone (${status}); deleting it`);
				await models.PushSubscription.deleteOne({ _id: job.subscriptionId, endpoint: job.endpoint });
				await models.PushJob.deleteMany({ subscriptionId: job.subscriptionId });
				return;
			case "drop":
				await models.PushJob.deleteOne({ _id: job._id });
				logger.warn(`Push to ${job.userId} refused with ${status}; dropped this message`);
				return;
			case "retry": {
				const why = status ?? attempt.failure;
				const attempts = job.attempts + 1;
				if (attempts >= MAX_PUSH_ATTEMPTS) {
					logger.warn(`Push to ${job.userId} failed ${attempts} times (${why}); giving up on this message`);
					await models.PushJob.deleteOne({ _id: job._id });
					return;
				}
				logger.debug(`Push to ${job.userId} failed (${why}); retry ${attempts}`);
				await models.PushJob.updateOne({ _id: job._id }, { $set: { attempts, nextAttemptAt: new Date(Date.now() + pushRetryDelayMs(attempts)) } });
			}
		}
	}
}
