import { createMemoryNetwork } from "../helpers/chaos_transport.ts";
import { runTransportContract, type TransportPair } from "./transport.contract.ts";

/** Two identities on a fresh network; the unresponsive address is a blackhole. */
function memoryPair(configure: (network: ReturnType<typeof createMemoryNetwork>) => void = () => {}): () => Promise<TransportPair> {
  return async () => {
    const network = createMemoryNetwork();
    configure(network);
    return {
      server: network.transport("node-a"),
      serverIdentity: "node-a",
      client: network.transport("node-b"),
      clientIdentity: "node-b",
      host: "memory",
      async unresponsive() {
        const address = { host: "stopped", port: 9 };
        network.blackhole(address);
        return { address, close: async () => {} };
      },
    };
  };
}

runTransportContract("memory", memoryPair());

runTransportContract("memory with 3ms delay", memoryPair((network) => network.delay(3)));
