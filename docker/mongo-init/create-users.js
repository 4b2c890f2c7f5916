// Run by the official mongo image (mongosh) on its first start, when the data volume is empty.
// Gives every PositionPal service its own user, allowed to read and write only its own database:
// for each secret /run/secrets/mongo_<service>_password it creates the user <service> on
// positionpal_<service> with that password. The services build MONGO_URL from the same secret
// (docker/entrypoint.sh), so the password exists in one place only.
// Later password changes: db.getSiblingDB("positionpal_<service>").changeUserPassword(...)
// (this script does not run again on a volume that already holds data).
const fs = require("fs");

const SECRETS = "/run/secrets";
const pattern = /^mongo_([a-z][a-z0-9_-]*)_password$/;

const files = fs.existsSync(SECRETS) ? fs.readdirSync(SECRETS).sort() : [];
let found = 0;
for (const file of files) {
	const match = pattern.exec(file);
	if (!match || match[1] === "root") continue;
	const service = match[1];
	found++;
	const password = fs.readFileSync(`${SECRETS}/${file}`, "utf8").trim();
	if (!password) throw new Error(`${SECRETS}/${file} is empty`);
	const dbName = `positionpal_${service}`;
	const database = db.getSiblingDB(dbName);
	if (database.getUser(service)) {
		print(`create-users: user ${service} on ${dbName} exists already`);
		continue;
	}
	database.createUser({ user: service, pwd: password, roles: [{ role: "readWrite", db: dbName }] });
	print(`create-users: created user ${service} on ${dbName}`);
}
if (found === 0) print("create-users: no /run/secrets/mongo_<service>_password secret, no service user created");
