// The official TypeScript SDK client (@modelcontextprotocol/sdk), as MCP hosts use it.
//
//   node ts_client.mjs <node_modules dir> <MCP URL> '<JSON list of [tool, arguments]>' [token]
//
// Lists the tools (which makes the client check each result against its outputSchema, as
// hosts do), calls each, and prints one JSON object: {"protocolVersion", "tools": [names],
// "calls": [{"name", "isError", "text", "meta", "thrown"}]}. `thrown` is the message of an
// exception the SDK raised instead of returning a result. Exits 0 when it printed that. A
// token is sent as `Authorization: Bearer <token>`, as hosts configured with one do.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [modules, url, callsJson, token] = process.argv.slice(2);
const sdk = (path) => import(pathToFileURL(join(modules, "@modelcontextprotocol/sdk/dist/esm", path)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

const client = new Client({ name: "ts-interop-test", version: "1.0.0" });
const requestInit = token ? { headers: { Authorization: `Bearer ${token}` } } : undefined;
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit });
await client.connect(transport);
const tools = [];
let cursor;
do {
  const page = await client.listTools(cursor ? { cursor } : {});
  tools.push(...page.tools.map((tool) => tool.name));
  cursor = page.nextCursor;
} while (cursor);

const calls = [];
for (const [name, args] of JSON.parse(callsJson)) {
  try {
    const result = await client.callTool({ name, arguments: args });
    calls.push({
      name,
      isError: result.isError === true,
      text: result.content.filter((block) => block.type === "text").map((block) => block.text).join("\n"),
      structuredContent: result.structuredContent ?? null,
      meta: result._meta ?? null,
      thrown: null,
    });
  } catch (error) {
    calls.push({ name, isError: null, text: null, structuredContent: null, meta: null, thrown: String(error.message ?? error) });
  }
}
const protocolVersion = transport.protocolVersion ?? null;
await client.close();
process.stdout.write(JSON.stringify({ protocolVersion, tools, calls }) + "\n");
