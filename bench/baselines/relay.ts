import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";

/**
 * Baseline for the fan-out and idle-socket benchmarks: a bare Socket.IO server on one process
 * that does only what the live path must do — check the token's signature, put the socket in
 * its group's room, and relay each sample to that room as a Session-shaped update (with an ack).
 * No broker, no service, no database. Prints `LISTENING <port>` once it accepts connections.
 */

const secret = process.env.JWT_SECRET ?? "";
const server = createServer();
const io = new Server(server, { path: "/socket.io", maxHttpBufferSize: 64 * 1024, serveClient: false });

interface Data {
	userId: string;
	groupId: string;
}

io.use((socket, next) => {
	const auth = socket.handshake.auth as { token?: string; groupId?: string };
	try {
		const claims = jwt.verify(auth.token ?? "", secret, { algorithms: ["HS256"] });
		if (typeof claims !== "object" || typeof claims.sub !== "string") throw new Error("bad token");
		(socket.data as Data).userId = claims.sub;
		(socket.data as Data).groupId = String(auth.groupId ?? "");
		next();
	} catch {
		next(new Error("UNAUTHORIZED"));
	}
});

io.on("connection", socket => {
	const { userId, groupId } = socket.data as Data;
	void socket.join([`user:${userId}`, `group:${groupId}`]);
	socket.on("location:sample", (sample: { latitude: number; longitude: number; timestamp?: string }, ack?: (reply: unknown) => void) => {
		const timestamp = sample.timestamp ?? new Date().toISOString();
		const session = {
			groupId,
			userId,
			state: "ACTIVE",
			sharing: true,
			position: { latitude: sample.latitude, longitude: sample.longitude, timestamp },
			journey: null,
			updatedAt: new Date().toISOString(),
		};
		io.to(`group:${groupId}`).emit("location:update", session);
		if (typeof ack === "function") ack({ ok: true, sessions: [session] });
	});
});

server.listen(0, "127.0.0.1", () => {
	const address = server.address();
	console.log(`LISTENING ${typeof address === "object" && address ? address.port : 0}`);
});
process.on("SIGTERM", () => {
	void io.close();
	process.exit(0);
});
