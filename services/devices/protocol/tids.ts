/**
 * OwnTracks tracker ids (tid) for the people in one HTTP answer: two characters from the name, unique within
 * the answer, the same for the same people whatever their order.
 *
 * Uniqueness is not cosmetic. In HTTP mode both apps key a friend by tid alone: iOS files every answered
 * message under the topic `owntracks/http/<tid>` and ignores the `topic` we send (owntracks/ios
 * OwnTracks/OwnTracks/Connection.m, `oneMessage:`), Android builds the same pseudo topic
 * (owntracks/android .../services/HttpMessageProcessorEndpoint.kt, `onFinalizeMessage`). Two people with
 * one tid would merge into one marker with one name.
 *
 * Stability matters for the same reason: a tid that moves to someone else between two answers moves a
 * name and a face onto the wrong marker. So a person's tid depends on the others only when they share
 * a first choice, and ties go to the smaller userId, never to input order.
 */

export interface TidPerson {
	userId: string;
	name: string;
	surname: string;
}

const graphemes = new Intl.Segmenter("und", { granularity: "grapheme" });
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const FALLBACK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** The letters and digits of a name as user-perceived characters, upper-cased where that keeps one character ("ß" stays "ß"). */
function letters(text: string): string[] {
	const out: string[] = [];
	for (const { segment } of graphemes.segment(text)) {
		if (!LETTER_OR_DIGIT.test(segment)) continue;
		const upper = segment.toUpperCase();
		out.push([...graphemes.segment(upper)].length === 1 ? upper : segment);
	}
	return out;
}

/**
 * Candidates by name, remembered: splitting names into grapheme clusters (ICU, through Intl.Segmenter)
 * costs ~0.1 ms per person, and every OwnTracks answer names the same few people again — without
 * this, tids were most of a busy devices service's CPU (bench/owntracks.ts).
 */
const candidatesByName = new Map<string, readonly string[]>();
const MAX_REMEMBERED_NAMES = 10_000;

/** Preferred tids first: initials, the first two letters, then the first letter with each later letter, then with a digit. */
export function tidCandidates(person: Pick<TidPerson, "name" | "surname">): string[] {
	const key = `${person.name}\u0000${person.surname}`;
	let known = candidatesByName.get(key);
	if (!known) {
		if (candidatesByName.size >= MAX_REMEMBERED_NAMES) candidatesByName.delete(candidatesByName.keys().next().value!);
		known = computeTidCandidates(person);
		candidatesByName.set(key, known);
	}
	return [...known];
}

function computeTidCandidates(person: Pick<TidPerson, "name" | "surname">): string[] {
	let first = letters(person.name);
	let last = letters(person.surname);
	if (first.length === 0) [first, last] = [last, []];
	if (first.length === 0) return [];
	const lead = first[0];
	const rest = [...last, ...first.slice(1)];
	const seen = new Set<string>();
	const candidates: string[] = [];
	const add = (tid: string) => {
		if (!seen.has(tid)) {
			seen.add(tid);
			candidates.push(tid);
		}
	};
	for (const next of rest) add(lead + next);
	for (const digit of "123456789") add(lead + digit);
	return candidates;
}

/** Codes nobody's name suggested, in a fixed order: AA…99, then three characters, and so on; never exhausted. */
function* spareCodes(): Generator<string> {
	for (let length = 2; ; length++) {
		const total = FALLBACK_ALPHABET.length ** length;
		for (let n = 0; n < total; n++) {
			let code = "";
			for (let rest = n, i = 0; i < length; i++, rest = Math.floor(rest / FALLBACK_ALPHABET.length)) {
				code = FALLBACK_ALPHABET[rest % FALLBACK_ALPHABET.length] + code;
			}
			yield code;
		}
	}
}

/** Code-unit order, not locale order: the same on every server. userIds are unique by then, so never equal. */
const byUserId = (a: TidPerson, b: TidPerson) => (a.userId < b.userId ? -1 : 1);

/** userId → tid for everyone in the answer (a userId given twice gets one tid). */
export function assignTids(people: readonly TidPerson[]): Map<string, string> {
	const unique = [...new Map(people.map(p => [p.userId, p])).values()].sort(byUserId);
	const candidates = new Map(unique.map(p => [p.userId, tidCandidates(p)]));
	const taken = new Set<string>();
	const tids = new Map<string, string>();
	const give = (userId: string, tid: string) => {
		tids.set(userId, tid);
		taken.add(tid);
	};

	// First choices first, so someone whose initials are free keeps them even when another person
	// would have reached the same code as a second choice.
	for (const { userId } of unique) {
		const first = candidates.get(userId)![0];
		if (first !== undefined && !taken.has(first)) give(userId, first);
	}
	const spare = spareCodes();
	for (const { userId } of unique) {
		if (tids.has(userId)) continue;
		let tid = candidates.get(userId)!.find(c => !taken.has(c));
		while (tid === undefined) {
			const code = spare.next().value as string;
			if (!taken.has(code)) tid = code;
		}
		give(userId, tid);
	}
	return tids;
}
