import { Module, type DynamicModule } from '@nestjs/common';
import type { ScalesetConfig } from './config.types';

/** Injection token of the validated {@link ScalesetConfig}. */
export const SCALESET_CONFIG = 'SCALESET_CONFIG';

/** Provides the configuration validated at boot (by `loadConfig`) to every module. */
@Module({})
export class ConfigModule {
  static forRoot(config: ScalesetConfig): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: SCALESET_CONFIG, useValue: config }],
      exports: [SCALESET_CONFIG],
    };
  }
}
