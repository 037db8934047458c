/**
 * The cluster as the broker's registry sees it: which live nodes run a service (health and the REPL ask each of
 * them; notifiers share the providers' rate limits among themselves).
 */
import type { ServiceBroker } from "moleculer";

/** The IDs of the available nodes (this one included) that run `service`, from the broker's registry. */
export function nodesRunning(broker: ServiceBroker, service: string): string[] {
	const nodes = broker.registry.getNodeList({ onlyAvailable: true, withServices: true }) as unknown as { id: string; services?: { name: string }[] }[];
	return nodes.filter((n) => (n.services ?? []).some((s) => s.name === service)).map((n) => n.id);
}
