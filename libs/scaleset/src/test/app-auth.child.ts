import { inspect } from 'node:util';
import { ScaleSetClient } from '../scaleset.client';

interface ChildInput {
  readonly configUrl: string;
  readonly clientId: string;
  readonly installationId: number;
  readonly privateKey: string;
}

// Entry for real-node.runner: one App-authenticated call, outcome as JSON on stdout.
async function main(): Promise<void> {
  const input = JSON.parse(process.env.SCALESET_CHILD_INPUT ?? '{}') as ChildInput;
  const client = new ScaleSetClient({
    configUrl: input.configUrl,
    auth: {
      kind: 'app',
      clientId: input.clientId,
      installationId: input.installationId,
      privateKey: input.privateKey,
    },
    retry: { max: 1, waitMinMs: 10, waitMaxMs: 20 },
    proxy: 'none',
    env: {},
  });
  let outcome: Record<string, unknown>;
  try {
    outcome = { ok: true, scaleSet: await client.getRunnerScaleSet(5) };
  } catch (err) {
    const error = err as Error;
    outcome = {
      ok: false,
      name: error.name,
      message: error.message,
      string: String(error),
      json: JSON.stringify(error),
      inspected: inspect(error, { depth: 10 }),
      stack: error.stack ?? '',
      status: (error as { status?: unknown }).status,
    };
  } finally {
    await client.close();
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

void main();
