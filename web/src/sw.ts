/**
 * The service worker, served at /sw.js: shows Web Push notifications (the payload is the
 * Notification resource of API.md §3) and focuses the app when one is clicked. It caches
 * nothing: the app needs the server anyway.
 */

import { localizeTimes, type NoticeFacts } from "./texts";

// Only the few service-worker types used here (the DOM and WebWorker libs cannot be mixed).
interface ExtendableEvent extends Event {
	waitUntil(promise: Promise<unknown>): void;
}
interface PushEvent extends ExtendableEvent {
	data: { json(): unknown; text(): string } | null;
}
interface NotificationClickEvent extends ExtendableEvent {
	notification: Notification;
}
interface WindowClientLike {
	url: string;
	focus(): Promise<unknown>;
}
interface ServiceWorkerScope {
	registration: ServiceWorkerRegistration;
	clients: {
		matchAll(opts: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClientLike[]>;
		openWindow(url: string): Promise<unknown>;
		claim(): Promise<void>;
	};
	skipWaiting(): Promise<void>;
	addEventListener(type: "push", listener: (event: PushEvent) => void): void;
	addEventListener(type: "notificationclick", listener: (event: NotificationClickEvent) => void): void;
	addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
}

const worker = self as unknown as ServiceWorkerScope;

worker.addEventListener("install", event => event.waitUntil(worker.skipWaiting()));
worker.addEventListener("activate", event => event.waitUntil(worker.clients.claim()));

worker.addEventListener("push", event => {
	let payload: { id?: string; title?: string; body?: string; kind?: string; groupId?: string; data?: NoticeFacts } = {};
	try {
		payload = (event.data?.json() ?? {}) as typeof payload;
	} catch {
		payload = { title: "PositionPal", body: event.data?.text() ?? "" };
	}
	const urgent = payload.kind === "SOS";
	event.waitUntil(
		// Times in this device's zone, from the notification's data (texts.ts).
		worker.registration.showNotification(localizeTimes(payload.title || "PositionPal", payload.data), {
			body: localizeTimes(payload.body ?? "", payload.data),
			tag: payload.id,
			data: { groupId: payload.groupId },
			requireInteraction: urgent,
		}),
	);
});

worker.addEventListener("notificationclick", event => {
	event.notification.close();
	const groupId = (event.notification.data as { groupId?: string } | null)?.groupId;
	const url = groupId ? `/#group=${encodeURIComponent(groupId)}` : "/";
	event.waitUntil(
		worker.clients.matchAll({ type: "window", includeUncontrolled: true }).then(async clients => {
			const open = clients.find(c => new URL(c.url).pathname === "/");
			if (open) return open.focus();
			return worker.clients.openWindow(url);
		}),
	);
});
