import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SCALESET_CONFIG, type ScalesetConfig } from '@app/config';

/** Runs the listener role. For now it announces the scale sets it will serve and idles. */
@Injectable()
export class ListenerService implements OnApplicationBootstrap {
  private readonly logger = new Logger('listener');

  constructor(@Inject(SCALESET_CONFIG) private readonly config: ScalesetConfig) {}

  onApplicationBootstrap(): void {
    this.logger.log(
      `listener started for scale sets: ${this.config.scaleSets.map((s) => s.name).join(', ')}`,
    );
  }
}
