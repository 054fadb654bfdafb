import type { RecordedRequest } from '@app/testing';
import { recordFigures, seconds } from './support/figures';
import { checkInvariants } from './support/invariants';
import { sleep, SystemHarness } from './support/system.harness';

// Scenario 5: for 30 seconds about 30 % of the GitHub / Actions service answers are errors:
// 503 and 500, and some 429 with Retry-After. Jobs arrive before and during the window. No
// process may exit, nobody may hammer the service (no tight retry loop), and every job must
// complete once the window is over.
jest.setTimeout(240_000);

const WINDOW_MS = 30_000;
const JOBS_BEFORE = 16;
const JOBS_DURING = 14;
const JOBS = JOBS_BEFORE + JOBS_DURING;
/** A sane ceiling for our processes' requests in any one second of the window. */
const MAX_REQUESTS_PER_SECOND = 50;

/** Highest number of requests that arrived within one wall-clock second. */
function peakPerSecond(requests: readonly RecordedRequest[]): number {
  const perSecond = new Map<number, number>();
  for (const r of requests) {
    const s = Math.floor(r.at / 1000);
    perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
  }
  return Math.max(0, ...perSecond.values());
}

describe('system: 30 s of 5xx and 429 answers from GitHub', () => {
  let h: SystemHarness | undefined;

  afterAll(async () => {
    await h?.close();
  });

  it('keeps every process up, backs off, and completes every job after the window', async () => {
    h = await SystemHarness.start({ scenario: 'api-chaos', maxRunners: 8 });
    const sys = h;
    const queuedAt = Date.now();
    sys.queueJobs(JOBS_BEFORE);
    // Faults are tried in order: 503 for 20 %, then 500 for 10 % of the rest, then 429 with
    // Retry-After for 5 % of the rest: about 31 % of all protocol answers fail.
    const windowStart = Date.now();
    const until = windowStart + WINDOW_MS;
    sys.fake.injectFault({ endpoint: '*', status: 503, probability: 0.2, untilMs: until });
    sys.fake.injectFault({ endpoint: '*', status: 500, probability: 0.1, untilMs: until });
    sys.fake.injectFault({
      endpoint: '*',
      status: 429,
      headers: { 'Retry-After': '1' },
      probability: 0.05,
      untilMs: until,
    });
    await sleep(WINDOW_MS / 2);
    sys.queueJobs(JOBS_DURING);
    await sleep(Math.max(0, until - Date.now()));
    const windowEnd = Date.now();

    const inWindow = sys.fake.requests.filter(
      (r) => r.at >= windowStart && r.at < until && r.endpoint !== 'fake',
    );
    const failed = inWindow.filter((r) => r.status >= 500 || r.status === 429);
    const completedInWindow = sys.jobs().filter((j) => j.state === 'completed').length;
    expect(sys.unexpectedExits()).toEqual([]);

    const doneAt = await sys.allJobsCompleted(JOBS, 120_000);
    const peak = peakPerSecond(inWindow);
    expect(peak).toBeLessThan(MAX_REQUESTS_PER_SECOND);
    expect(failed.length).toBeGreaterThan(0);

    const figures = await checkInvariants(sys, {
      jobs: JOBS,
      startedAt: queuedAt,
      faultsEndedAt: windowEnd,
      quietAt: doneAt,
    });
    const byEndpoint: Record<string, number> = {};
    for (const r of inWindow) {
      byEndpoint[r.endpoint] = (byEndpoint[r.endpoint] ?? 0) + 1;
    }
    recordFigures('5-api-chaos', {
      jobs: JOBS,
      windowS: WINDOW_MS / 1000,
      protocolRequestsInWindow: inWindow.length,
      failedAnswersInWindow: failed.length,
      failedShare: Math.round((failed.length / Math.max(1, inWindow.length)) * 100) / 100,
      answers429: failed.filter((r) => r.status === 429).length,
      peakProtocolRequestsPerSecondInWindow: peak,
      requestsInWindowByEndpoint: JSON.stringify(byEndpoint),
      jobsCompletedDuringWindow: completedInWindow,
      completedAfterWindowS: seconds(windowEnd, doneAt),
      totalS: seconds(queuedAt, doneAt),
      ...figures,
    });
  });
});
