import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type ScalesetConfig } from '@app/config';
import { WorkerService } from './worker.service';

/** The worker app: BullMQ processors for start, destroy and reconcile jobs. */
@Module({})
export class WorkerModule {
  static forRoot(config: ScalesetConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config)],
      providers: [WorkerService],
    };
  }
}
