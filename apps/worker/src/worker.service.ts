import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SCALESET_CONFIG, type ScalesetConfig } from '@app/config';
import { QUEUES } from '@app/queue';

/** Announces the worker role once its processors are running. */
@Injectable()
export class WorkerService implements OnApplicationBootstrap {
  private readonly logger = new Logger('worker');

  constructor(@Inject(SCALESET_CONFIG) private readonly config: ScalesetConfig) {}

  onApplicationBootstrap(): void {
    this.logger.log(
      `worker started (deployment ${this.config.deployment.id}, queue ${QUEUES.runners}, ` +
        `concurrency ${this.config.worker.concurrency})`,
    );
  }
}
