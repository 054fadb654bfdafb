import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule, type BullBoardServerAdapter } from '@bull-board/nestjs';
import { Module, type DynamicModule } from '@nestjs/common';
import type { UiConfig } from '@app/config';
import { QUEUES } from '@app/queue';
import { createUiAuthMiddleware } from './ui.auth';

/**
 * Bull Board on the listener's HTTP server under `ui.path`, behind basic auth or a bearer
 * token. It reads the queues the listener already registers as a producer: no `Worker` is
 * started. Job data is shown as is; payloads hold ids and names only (guarantee 6).
 */
@Module({})
export class UiModule {
  static forRoot(ui: UiConfig): DynamicModule {
    return {
      module: UiModule,
      imports: [
        BullBoardModule.forRoot({
          route: ui.path,
          // @bull-board/express 9.10.1 types against its own nested @bull-board/api copy;
          // the classes are the same at runtime. Drop the cast once the versions align.
          adapter: ExpressAdapter as unknown as new () => BullBoardServerAdapter,
          middleware: createUiAuthMiddleware(ui),
          boardOptions: { uiConfig: { boardTitle: 'scaleset' } },
        }),
        BullBoardModule.forFeature(
          { name: QUEUES.runners, adapter: BullMQAdapter },
          { name: QUEUES.reconcile, adapter: BullMQAdapter },
        ),
      ],
    };
  }
}
