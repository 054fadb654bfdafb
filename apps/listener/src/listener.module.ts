import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type ScalesetConfig } from '@app/config';
import { ListenerService } from './listener.service';

/** The listener app: one lease, one message session and one poll loop per scale set. */
@Module({})
export class ListenerModule {
  static forRoot(config: ScalesetConfig): DynamicModule {
    return {
      module: ListenerModule,
      imports: [ConfigModule.forRoot(config)],
      providers: [ListenerService],
    };
  }
}
