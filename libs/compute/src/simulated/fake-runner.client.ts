import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFakeJitConfig } from './fake-jit-config.codec';

/** Options of {@link runFakeRunner}. */
export interface RunFakeRunnerOptions {
  /** Stops waiting for a job or sleeping through one. */
  signal?: AbortSignal;
  /** Overrides the origin found in the JIT config. */
  origin?: string;
  /** Hold of each job poll; default 20 000. */
  pollWaitMs?: number;
  /** Called once the service has accepted the runner's online report. */
  onOnline?: () => void;
}

/** What an in-process fake runner did. */
export interface FakeRunnerOutcome {
  /** Runner name from the JIT config. */
  runnerName: string;
  /** The job it ran. */
  jobId: string;
  /** The result it reported for the job. */
  result: string;
}

/**
 * Does what `fake-runner.sh` does, in process: report online with the JIT config's credential,
 * wait for a job, sleep for its duration, report the result. For tests that need runners
 * without containers or child processes, and for the simulated engine's `runner: fake`.
 * Rejects when the service refuses or cannot be reached (the error names the runner and the
 * path, never the credential) and when `signal` aborts.
 */
export async function runFakeRunner(
  encodedJitConfig: string,
  options: RunFakeRunnerOptions = {},
): Promise<FakeRunnerOutcome> {
  const config = decodeFakeJitConfig(encodedJitConfig);
  const origin = options.origin ?? config.origin;
  const call = async (path: string, body?: unknown): Promise<Response> => {
    const init: RequestInit = {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${config.credential}`, 'content-type': 'application/json' },
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    if (options.signal) {
      init.signal = options.signal;
    }
    const response = await fetch(`${origin}${path}`, init);
    if (!response.ok) {
      throw new Error(
        `fake runner ${config.runnerName}: ${path} answered ${response.status}: ${await response.text()}`,
      );
    }
    return response;
  };

  await call('/_fake/runner/online', {});
  options.onOnline?.();
  for (;;) {
    const response = await call(`/_fake/runner/job?waitMs=${options.pollWaitMs ?? 20_000}`);
    if (response.status === 204) {
      continue;
    }
    const job = (await response.json()) as { jobId: string; durationMs: string; result: string };
    await call('/_fake/runner/started', { jobId: job.jobId });
    await sleep(
      Number(job.durationMs),
      undefined,
      options.signal ? { signal: options.signal } : {},
    );
    await call('/_fake/runner/finished', { jobId: job.jobId, result: job.result });
    return { runnerName: config.runnerName, jobId: job.jobId, result: job.result };
  }
}
