import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { SCALESET_CONFIG, type ScalesetConfig } from '@app/config';
import type { ListenerStatus } from './listener.ports';
import { ListenerService } from './listener.service';

interface HealthBody {
  readonly status: 'ok' | 'unavailable';
  readonly scaleSets: readonly ListenerStatus[];
}

/**
 * `/healthz`: liveness, fails when a poll (or standby) loop has not completed a cycle for
 * `listener.health_stale_after`. `/readyz`: every scale set is either led by this replica
 * with an open session, or on standby behind another replica's lease.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly listener: ListenerService,
    @Inject(SCALESET_CONFIG) private readonly config: ScalesetConfig,
  ) {}

  @Get('healthz')
  liveness(): HealthBody {
    const now = Date.now();
    const scaleSets = this.listener.statuses();
    const stale = scaleSets.some(
      (s) => s.role !== 'stopped' && now - s.lastCycleAt > this.config.listener.healthStaleAfterMs,
    );
    return this.answer(!stale, scaleSets);
  }

  @Get('readyz')
  readiness(): HealthBody {
    const scaleSets = this.listener.statuses();
    const ready = scaleSets.every(
      (s) => (s.role === 'leader' && s.hasSession) || s.role === 'standby',
    );
    return this.answer(ready, scaleSets);
  }

  private answer(ok: boolean, scaleSets: readonly ListenerStatus[]): HealthBody {
    if (!ok) {
      throw new ServiceUnavailableException({ status: 'unavailable', scaleSets });
    }
    return { status: 'ok', scaleSets };
  }
}
