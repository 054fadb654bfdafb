import type { FakeGitHubStats, RecordedEndpoint, RecordedRequest } from './fake-github.types';

/** Keeps recorded requests (bounded) plus exact counters and the requests-per-second peak. */
export class RequestRecorder {
  readonly requests: RecordedRequest[] = [];
  private total = 0;
  private byEndpoint = new Map<RecordedEndpoint, number>();
  private currentSecond = 0;
  private inCurrentSecond = 0;
  private peak = 0;

  constructor(private readonly maxRecorded: number) {}

  /** Counts a request when it arrives (so the rate reflects arrivals, not completions). */
  arrived(at: number): void {
    const second = Math.floor(at / 1000);
    if (second === this.currentSecond) {
      this.inCurrentSecond += 1;
    } else {
      this.currentSecond = second;
      this.inCurrentSecond = 1;
    }
    this.peak = Math.max(this.peak, this.inCurrentSecond);
  }

  record(request: RecordedRequest): void {
    this.total += 1;
    this.byEndpoint.set(request.endpoint, (this.byEndpoint.get(request.endpoint) ?? 0) + 1);
    this.requests.push(request);
    if (this.requests.length > this.maxRecorded) {
      this.requests.splice(0, this.requests.length - this.maxRecorded);
    }
  }

  clear(): void {
    this.requests.length = 0;
    this.total = 0;
    this.byEndpoint.clear();
    this.inCurrentSecond = 0;
    this.peak = 0;
  }

  stats(): FakeGitHubStats {
    return {
      total: this.total,
      byEndpoint: Object.fromEntries(this.byEndpoint),
      peakRequestsPerSecond: this.peak,
    };
  }
}
