import { Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { ScaleSetClient, type ScaleSetClientOptions } from './scaleset.client';

/** Provides one {@link ScaleSetClient} (the class is the injection token). */
@Module({})
export class ScaleSetModule implements OnApplicationShutdown {
  constructor(private readonly client: ScaleSetClient) {}

  /** Registers a `ScaleSetClient` built from `options`. */
  static forRoot(options: ScaleSetClientOptions): DynamicModule {
    return {
      module: ScaleSetModule,
      providers: [{ provide: ScaleSetClient, useFactory: () => new ScaleSetClient(options) }],
      exports: [ScaleSetClient],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
