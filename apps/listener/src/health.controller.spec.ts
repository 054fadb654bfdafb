import { ServiceUnavailableException } from '@nestjs/common';
import { loadConfig } from '@app/config';
import { HealthController } from './health.controller';
import type { ListenerStatus } from './listener.ports';
import type { ListenerService } from './listener.service';

const config = loadConfig({
  env: {},
  configPath: 'c.yaml',
  readFile: () =>
    'github:\n  url: https://github.com/o\n  token: t\nscaleset:\n  name: s\nengine:\n  type: docker\nlistener:\n  health_stale_after: 60s\n',
});

function controller(statuses: ListenerStatus[]): HealthController {
  return new HealthController({ statuses: () => statuses } as unknown as ListenerService, config);
}

const status = (patch: Partial<ListenerStatus>): ListenerStatus => ({
  scaleSet: 's',
  role: 'leader',
  hasSession: true,
  lastCycleAt: Date.now(),
  ...patch,
});

describe('HealthController', () => {
  it('is live while the poll loop cycles, and not once it stalls past the threshold', () => {
    expect(controller([status({})]).liveness().status).toBe('ok');
    expect(() => controller([status({ lastCycleAt: Date.now() - 61_000 })]).liveness()).toThrow(
      ServiceUnavailableException,
    );
  });

  it('is ready as leader with a session or as standby; not while starting or without a session', () => {
    expect(controller([status({})]).readiness().status).toBe('ok');
    expect(controller([status({ role: 'standby', hasSession: false })]).readiness().status).toBe(
      'ok',
    );
    expect(() => controller([status({ role: 'starting', hasSession: false })]).readiness()).toThrow(
      ServiceUnavailableException,
    );
    expect(() => controller([status({ hasSession: false })]).readiness()).toThrow(
      ServiceUnavailableException,
    );
  });
});
