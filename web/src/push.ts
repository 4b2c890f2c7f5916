import { ApiError, type Api } from "./api";

/**
 * Web Push (API.md §3 notifications): offered only when the server has VAPID keys
 * (`GET /notifications/push-key` answers 200) and the browser can do it. The service worker
 * (sw.ts, served at /sw.js) shows the pushed notifications.
 */

export const browserSupportsPush = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window && window.isSecureContext;

/** The server's public key, or null when push is off there (404) or impossible here. */
export async function pushKey(api: Api): Promise<string | null> {
	if (!browserSupportsPush()) return null;
	try {
		return (await api.pushKey()).publicKey;
	} catch (err) {
		if (err instanceof ApiError && err.code === 404) return null;
		throw err;
	}
}

async function registration(): Promise<ServiceWorkerRegistration> {
	await navigator.serviceWorker.register("/sw.js", { scope: "/" });
	return navigator.serviceWorker.ready;
}

export async function currentSubscription(): Promise<PushSubscription | null> {
	if (!browserSupportsPush()) return null;
	const reg = await navigator.serviceWorker.getRegistration("/");
	return reg ? reg.pushManager.getSubscription() : null;
}

export async function enablePush(api: Api, publicKey: string): Promise<void> {
	const permission = await Notification.requestPermission();
	if (permission !== "granted")
		throw new Error("Notifications are blocked for this site. Allow them in the browser's site settings to get push notifications.");
	const reg = await registration();
	const subscribe = () => reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) });
	const subscription = (await reg.pushManager.getSubscription()) ?? (await subscribe());
	try {
		await api.subscribePush(subscription.toJSON());
	} catch (err) {
		// 409: this browser's endpoint belongs to another account that used it here (the server never
		// moves it). A new subscription is a new endpoint, which is ours.
		if (!(err instanceof ApiError && err.code === 409)) throw err;
		await subscription.unsubscribe();
		await api.subscribePush((await subscribe()).toJSON());
	}
}

export async function disablePush(api: Api): Promise<void> {
	const subscription = await currentSubscription();
	if (!subscription) return;
	await api.unsubscribePush(subscription.endpoint);
	await subscription.unsubscribe();
}

function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
	const base64 = text
		.replace(/-/g, "+")
		.replace(/_/g, "/")
		.padEnd(Math.ceil(text.length / 4) * 4, "=");
	const raw = atob(base64);
	const bytes = new Uint8Array(new ArrayBuffer(raw.length));
	for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
	return bytes;
}
