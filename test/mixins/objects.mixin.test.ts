import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type Service } from "moleculer";
import { pino } from "pino";
import { loadConfig } from "../../config/index.ts";
import { closePlatform, initPlatform } from "../../lib/platform.ts";
import { objectsMixin, type ObjectsThis } from "../../mixins/objects.mixin.ts";

test("a service with objectsMixin reaches the platform's object store as this.objects", async () => {
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "paperwork-objmixin-"));
	const broker = new ServiceBroker({ logger: false, nodeID: `objects-mixin-${process.pid}` });
	broker.createService({
		name: "files",
		mixins: [objectsMixin],
		actions: {
			async roundTrip(this: Service & ObjectsThis) {
				await this.objects.put("mixin/x.txt", "through the mixin");
				let s = "";
				for await (const c of await this.objects.get("mixin/x.txt")) s += (c as Buffer).toString();
				return { kind: this.objects.kind, s };
			}
		}
	});
	try {
		await broker.start();
		// before the platform exists the getter says so
		await assert.rejects(broker.call("files.roundTrip"), /platform not initialised/);
		const platform = await initPlatform(loadConfig({ DATA_DIR: dataDir }), pino({ level: "silent" }));
		assert.deepEqual(await broker.call("files.roundTrip"), { kind: "fs", s: "through the mixin" });
		assert.equal(await platform.objects.stat("mixin/x.txt").then((i) => i?.size), 17);
	} finally {
		await broker.stop();
		await closePlatform();
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
});
