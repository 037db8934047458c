/**
 * deploy/k8s stays deployable and in step with the code:
 * - every overlay renders with `kubectl kustomize`, and every object validates against the Kubernetes and KEDA
 *   schemas (kubernetes-models, @kubernetes-models/keda: nothing is downloaded at test time);
 * - every actor in services/ runs in some Deployment, and every queue a Deployment's actors consume (the `queues`
 *   keys of their schemas) has a KEDA trigger, by length and by rate, on that Deployment;
 * - every variable the distributed stack needs is set on every pod, every variable set is one of config/index.ts
 *   SPEC (or a documented extra), secrets come from Secrets only, and the values pass the configuration's checks;
 * - probes, shutdown times, non-root read-only pods, resources, disruption budgets and the network policy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../helpers/node.ts";
import { SPEC, loadConfig, type VarSpec } from "../../config/index.ts";
import { QUEUE_NAMES } from "../../config/queues.ts";
import { availableServices } from "../../lib/node.ts";
import { SHUTDOWN_MARGIN_MS } from "../../lib/shutdown.ts";

const K8S = path.join(ROOT, "deploy/k8s");
const OVERLAYS = readdirSync(path.join(K8S, "overlays")).sort();

/**
 * Actors the manifests run that other changes are adding (their service files are not in this tree yet), with the
 * queues they will consume. Once a service file exists its own `queues` keys are read instead, and this entry is
 * ignored: delete it then.
 */
const PLANNED_SERVICES: Record<string, string[]> = {
	notifier: ["cases.rendered"],
	scheduler: [],
	intake: [],
	reader: ["intake.received"]
};

/**
 * Variables set on pods that are not Paperwork's configuration: read by Chromium (HOME), Tesseract (OMP), and the
 * set-up Job's `npm run operator -- add` (OPERATOR_PASSWORD, from the Secret).
 */
const EXTERNAL_VARIABLES = new Set(["HOME", "OMP_THREAD_LIMIT", "OPERATOR_PASSWORD"]);

/**
 * What a node of the distributed stack needs (each entry: one of these names). The embedded defaults of these would
 * silently give each pod its own in-process queues, SQLite file and object folder.
 */
const REQUIRED: string[][] = [["TRANSPORTER"], ["NAMESPACE"], ["MONGO_URL", "DATABASE_URL"], ["S3_ENDPOINT"], ["S3_ACCESS_KEY"], ["S3_SECRET_KEY"], ["JWT_SECRET"], ["METRICS_PORT"], ["DATA_DIR"]];
/** Variables whose value holds a credential (besides SPEC's `secret` kind): never in a ConfigMap or a literal. */
const CREDENTIAL_URLS = new Set(["TRANSPORTER", "AMQP_URL", "RABBITMQ_MANAGEMENT_URL", "MONGO_URL", "DATABASE_URL", "OPENSEARCH_URL", "SMTP_URL"]);

interface K8sObject {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; labels?: Record<string, string> };
	spec?: Record<string, unknown>;
	data?: Record<string, string>;
}
interface EnvVar {
	name: string;
	value?: string;
	valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: unknown; fieldRef?: unknown };
}
interface Probe {
	httpGet?: { path: string; port: string | number };
}
interface Container {
	name: string;
	image: string;
	env?: EnvVar[];
	envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
	ports?: { name?: string; containerPort: number }[];
	livenessProbe?: Probe;
	readinessProbe?: Probe;
	resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
	securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
	volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
	containers: Container[];
	terminationGracePeriodSeconds?: number;
	securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
	volumes?: { name: string; emptyDir?: unknown }[];
}
interface Trigger {
	type: string;
	metadata: Record<string, string>;
	authenticationRef?: { name: string };
}

function render(overlay: string): K8sObject[] {
	const r = spawnSync("kubectl", ["kustomize", path.join(K8S, "overlays", overlay)], { encoding: "utf8", timeout: 60_000 });
	assert.equal(r.error, undefined, `kubectl not runnable (scripts/setup.sh --test installs it): ${r.error?.message ?? ""}`);
	assert.equal(r.status, 0, `kubectl kustomize ${overlay} failed:\n${r.stderr}`);
	return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
}

const rendered = new Map(OVERLAYS.map((o) => [o, render(o)]));

const of = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const envValue = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;

/** The model class of an object: kubernetes-models/<group>/<version>/<Kind>, or the KEDA package for keda.sh. */
async function modelOf(o: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
	const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
	const spec = group === "keda.sh" ? `@kubernetes-models/keda/keda.sh/${version}/${o.kind}` : `kubernetes-models/${group ? `${group}/` : ""}${version}/${o.kind}`;
	const mod = (await import(spec)) as Record<string, new (data: unknown) => { validate(): void }>;
	const cls = mod[o.kind];
	assert.ok(cls, `no schema for ${o.apiVersion} ${o.kind}`);
	return cls;
}

/** The queues a service consumes: the `queues` keys of its schema, or PLANNED_SERVICES for one not in this tree. */
async function consumedBy(service: string): Promise<string[]> {
	const file = path.join(ROOT, "services", `${service}.service.ts`);
	if (!existsSync(file)) {
		assert.ok(service in PLANNED_SERVICES, `SERVICES names '${service}', which is neither in services/ nor planned`);
		return PLANNED_SERVICES[service] ?? [];
	}
	const mod = (await import(pathToFileURL(file).href)) as { default: { queues?: Record<string, unknown> } };
	return Object.keys(mod.default.queues ?? {});
}

/** Every variable a container gets: literal or secret env entries, plus its ConfigMaps' keys. */
function variables(c: Container, objects: K8sObject[]): Map<string, { from: "value" | "secret" | "configmap" | "field"; value?: string }> {
	const out = new Map<string, { from: "value" | "secret" | "configmap" | "field"; value?: string }>();
	for (const ref of c.envFrom ?? []) {
		assert.equal(ref.secretRef, undefined, `${c.name}: secrets are referenced one key at a time (secretKeyRef), so the test sees them`);
		const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === ref.configMapRef?.name);
		assert.ok(cm, `${c.name}: ConfigMap ${ref.configMapRef?.name} is not in the manifests`);
		for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, { from: "configmap", value: v });
	}
	for (const e of c.env ?? []) {
		if (e.value !== undefined) out.set(e.name, { from: "value", value: e.value });
		else if (e.valueFrom?.secretKeyRef) out.set(e.name, { from: "secret" });
		else out.set(e.name, { from: "field" });
	}
	return out;
}

/** A value that passes the configuration's checks, for a variable that comes from a Secret or the pod's fields. */
function placeholder(spec: VarSpec): string {
	if (spec.kind === "url") return `${spec.protocols?.[0] ?? "http"}://user:password@server.example:1234`;
	return "placeholder-value-placeholder-value";
}

const SPEC_BY_NAME = new Map(SPEC.map((s) => [s.name, s]));

for (const [overlay, objects] of rendered) {
	test(`${overlay}: every object validates against the Kubernetes and KEDA schemas`, async () => {
		assert.ok(objects.length > 0);
		for (const o of objects) {
			const Model = await modelOf(o);
			assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
			assert.equal(o.metadata.namespace, "paperwork", `${o.kind} ${o.metadata.name} has the overlay's namespace`);
		}
	});

	test(`${overlay}: every actor runs in a Deployment, and every pod is configured for the distributed stack`, () => {
		const deployments = of(objects, "Deployment");
		const running = deployments.flatMap((d) => (envValue(podSpec(d).containers[0] as Container, "SERVICES") ?? "").split(","));
		for (const s of availableServices().filter((n) => n !== "ops")) assert.ok(running.includes(s), `services/${s}.service.ts runs in no Deployment`);
		assert.equal(new Set(running).size, running.length, "an actor runs in one Deployment only");

		for (const cm of of(objects, "ConfigMap")) {
			for (const key of Object.keys(cm.data ?? {})) {
				assert.ok(SPEC_BY_NAME.get(key)?.kind !== "secret" && !CREDENTIAL_URLS.has(key), `ConfigMap ${cm.metadata.name} holds ${key}, a credential: put it in the Secret`);
			}
		}
		const pods = [...deployments, ...of(objects, "Job")];
		for (const o of pods) {
			const c = podSpec(o).containers[0] as Container;
			const vars = variables(c, objects);
			for (const alternatives of REQUIRED) {
				assert.ok(alternatives.every((n) => SPEC_BY_NAME.has(n)), `${alternatives.join("/")} is not in config/index.ts SPEC`);
				assert.ok(alternatives.some((n) => vars.has(n)), `${o.kind} ${o.metadata.name}: ${alternatives.join(" or ")} is set nowhere`);
			}
			assert.notEqual(vars.get("METRICS_PORT")?.value, "0", "the probes are served on METRICS_PORT");
			const env: Record<string, string> = {};
			for (const [name, v] of vars) {
				const spec = SPEC_BY_NAME.get(name);
				assert.ok(spec || EXTERNAL_VARIABLES.has(name), `${o.metadata.name}: ${name} is not a configuration variable (config/index.ts SPEC)`);
				if (spec?.kind === "secret" || CREDENTIAL_URLS.has(name)) assert.equal(v.from, "secret", `${o.metadata.name}: ${name} holds a credential and must come from a Secret`);
				if (spec) env[name] = v.value ?? placeholder(spec);
			}
			// the store URLs are alternatives (both come from optional Secret keys): each one alone must pass
			const stores = ["MONGO_URL", "DATABASE_URL"].filter((n) => n in env);
			for (const store of stores.length ? stores : [undefined]) {
				const one = Object.fromEntries(Object.entries(env).filter(([n]) => !stores.includes(n) || n === store));
				assert.doesNotThrow(() => loadConfig(one), `${o.metadata.name}: the values pass config/index.ts${store ? ` with ${store}` : ""}`);
			}
		}
		const api = deployments.find((d) => (envValue(podSpec(d).containers[0] as Container, "SERVICES") ?? "").split(",").includes("api"));
		assert.ok(api, "a Deployment runs the api");
		const apiVars = variables(podSpec(api).containers[0] as Container, objects);
		for (const name of ["PORT", "PUBLIC_URL"]) assert.ok(apiVars.has(name), `the api needs ${name}`);
	});

	test(`${overlay}: probes, graceful shutdown, non-root read-only pods, resources and disruption budgets`, () => {
		const pdbs = of(objects, "PodDisruptionBudget");
		for (const d of of(objects, "Deployment")) {
			const spec = podSpec(d);
			const c = spec.containers[0] as Container;
			const name = d.metadata.name;
			const metrics = c.ports?.find((p) => p.name === "metrics");
			assert.equal(String(metrics?.containerPort), variables(c, objects).get("METRICS_PORT")?.value, `${name}: the metrics port is METRICS_PORT`);
			assert.deepEqual(c.livenessProbe?.httpGet, { path: "/healthz", port: "metrics" }, `${name}: liveness`);
			assert.deepEqual(c.readinessProbe?.httpGet, { path: "/readyz", port: "metrics" }, `${name}: readiness`);
			const shutdownMs = Number(envValue(c, "SHUTDOWN_TIMEOUT_MS"));
			assert.ok(shutdownMs > 0 && spec.terminationGracePeriodSeconds !== undefined, `${name}: SHUTDOWN_TIMEOUT_MS and a grace period are set`);
			assert.ok(shutdownMs + SHUTDOWN_MARGIN_MS + 2000 <= spec.terminationGracePeriodSeconds * 1000, `${name}: SHUTDOWN_TIMEOUT_MS (${shutdownMs}) and the exit margin stay 2 s below terminationGracePeriodSeconds`);
			assert.equal(spec.securityContext?.runAsNonRoot, true, `${name}: runs as non-root`);
			assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${name}: read-only root file system`);
			assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name}: no privilege escalation`);
			for (const mount of ["/tmp", variables(c, objects).get("DATA_DIR")?.value]) {
				const m = c.volumeMounts?.find((v) => v.mountPath === mount);
				assert.ok(m && spec.volumes?.some((v) => v.name === m.name && v.emptyDir), `${name}: ${mount} is a writable emptyDir`);
			}
			for (const kind of ["requests", "limits"] as const) for (const r of ["cpu", "memory"]) assert.ok(c.resources?.[kind]?.[r], `${name}: ${kind}.${r}`);
			for (const threads of ["ETL_CONCURRENCY", "RENDER_CONCURRENCY"]) {
				const n = envValue(c, threads);
				if (n) assert.ok(Number(n) <= Number(c.resources?.limits?.cpu), `${name}: ${threads}=${n} within its CPU limit`);
			}
			const labels = (d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
			assert.ok(
				pdbs.some((p) => JSON.stringify((p.spec as { selector: { matchLabels: unknown } }).selector.matchLabels) === JSON.stringify(labels)),
				`${name}: has a PodDisruptionBudget`
			);
		}
	});

	test(`${overlay}: only the api is reachable from outside`, () => {
		const policies = of(objects, "NetworkPolicy");
		type Rule = { from?: unknown[]; ports?: { port: number }[] };
		type Policy = { podSelector: { matchLabels?: Record<string, string> }; ingress?: Rule[]; policyTypes?: string[] };
		const all = policies.map((p) => p.spec as unknown as Policy);
		assert.ok(all.some((p) => p.policyTypes?.includes("Ingress") && p.podSelector.matchLabels?.["app.kubernetes.io/component"] === undefined), "a policy selects every Paperwork pod");
		for (const p of all) {
			for (const rule of p.ingress ?? []) {
				if (rule.from !== undefined) continue;
				assert.equal(p.podSelector.matchLabels?.["app.kubernetes.io/component"], "api", "only the api admits traffic from anywhere");
				assert.deepEqual(rule.ports?.map((x) => x.port), [3000], "and only on its HTTP port");
			}
		}
	});
}

test("production: every queue a Deployment's actors consume has KEDA triggers (length and rate) on that Deployment", async () => {
	const objects = rendered.get("production");
	assert.ok(objects, "a production overlay exists");
	const deployments = of(objects, "Deployment");
	const scaled = of(objects, "ScaledObject");
	const auths = new Set(of(objects, "TriggerAuthentication").map((a) => a.metadata.name));
	const namespace = of(objects, "ConfigMap").find((c) => c.metadata.name === "paperwork-config")?.data?.NAMESPACE;
	assert.ok(namespace, "NAMESPACE is set in the config map");
	const consumedAnywhere = new Set<string>();
	for (const d of deployments) {
		const services = (envValue(podSpec(d).containers[0] as Container, "SERVICES") ?? "").split(",");
		const queues = [...new Set((await Promise.all(services.map(consumedBy))).flat())];
		queues.forEach((q) => consumedAnywhere.add(q));
		const so = scaled.filter((s) => (s.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === d.metadata.name);
		if (queues.length === 0) {
			assert.equal(so.length, 0, `${d.metadata.name} consumes no queue: no ScaledObject`);
			continue;
		}
		assert.equal(so.length, 1, `${d.metadata.name} consumes ${queues.join(", ")}: it needs one ScaledObject`);
		const spec = (so[0] as K8sObject).spec as { minReplicaCount: number; maxReplicaCount: number; triggers: Trigger[] };
		assert.ok(spec.minReplicaCount >= 1 && spec.maxReplicaCount > spec.minReplicaCount, `${d.metadata.name}: min and max replicas`);
		for (const t of spec.triggers) {
			assert.equal(t.type, "rabbitmq");
			assert.ok(t.authenticationRef && auths.has(t.authenticationRef.name), `${d.metadata.name}: trigger authentication exists`);
			const queue = t.metadata.queueName?.slice(namespace.length + 1);
			assert.ok(t.metadata.queueName?.startsWith(`${namespace}.`) && queue && queues.includes(queue), `${d.metadata.name}: trigger on ${t.metadata.queueName}, which it does not consume`);
		}
		for (const q of queues) {
			for (const mode of ["QueueLength", "MessageRate"]) {
				assert.ok(
					spec.triggers.some((t) => t.metadata.queueName === `${namespace}.${q}` && t.metadata.mode === mode && Number(t.metadata.value) > 0),
					`${d.metadata.name} consumes ${q}: no ${mode} trigger on ${namespace}.${q}`
				);
			}
		}
	}
	for (const q of QUEUE_NAMES) assert.ok(consumedAnywhere.has(q), `queue ${q} (config/queues.ts) is consumed by no Deployment`);
	const hpa = of(objects, "HorizontalPodAutoscaler").find((h) => (h.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === "paperwork-api");
	assert.ok(hpa, "the api scales on CPU");
	const autoscaled = new Set([...scaled, hpa].map((s) => (s.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name));
	for (const d of deployments) {
		const replicas = (d.spec as { replicas?: number }).replicas;
		if (autoscaled.has(d.metadata.name)) assert.equal(replicas, undefined, `${d.metadata.name}: no replicas, so kubectl apply never undoes the autoscaler`);
		else assert.ok(replicas !== undefined && replicas >= 2, `${d.metadata.name}: not autoscaled, runs at least 2 replicas in production`);
	}
});

test("small: one replica of each actor and no autoscaler", () => {
	const objects = rendered.get("small");
	assert.ok(objects, "a small overlay exists");
	assert.equal(of(objects, "ScaledObject").length + of(objects, "HorizontalPodAutoscaler").length, 0);
	for (const d of of(objects, "Deployment")) assert.equal((d.spec as { replicas: number }).replicas, 1, d.metadata.name);
});
