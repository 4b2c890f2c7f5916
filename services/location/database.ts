import type { Connection } from "mongoose";
import { historyModel } from "./history/store.js";
import { locationModels } from "./models.js";
import { precisionModel } from "./precision-settings.js";
import { journalModel } from "./sample-journal.js";
import { shareLinkModel } from "./sharing/share-links.js";

/**
 * Every collection of the location database on one connection (the service's own, opened by MongooseMixin):
 * sessions and places (models.ts), and the stores' own: share links, history, precision choices, the sample journal.
 */
export function locationDatabase(connection: Connection) {
	return {
		...locationModels(connection),
		ShareLink: shareLinkModel(connection),
		HistoryPoint: historyModel(connection),
		Precision: precisionModel(connection),
		SampleJournal: journalModel(connection),
	};
}

export type LocationDatabase = ReturnType<typeof locationDatabase>;
