import {
  Inject,
  Module,
  type DynamicModule,
  type InjectionToken,
  type OnApplicationShutdown,
  type OptionalFactoryDependency,
} from '@nestjs/common';
import { ComputeEngine } from './compute.engine';
import { createComputeEngine, type ComputeEngineConfig } from './compute.factory';

/** Options of {@link ComputeModule.forRootAsync}: build the engine config from injected providers. */
export interface ComputeModuleAsyncOptions {
  /** Returns the engine config, typically a slice of the validated app config. */
  readonly useFactory: (...args: never[]) => ComputeEngineConfig | Promise<ComputeEngineConfig>;
  /** Providers passed to `useFactory`. */
  readonly inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Modules exporting those providers. */
  readonly imports?: DynamicModule['imports'];
}

/**
 * Provides the configured {@link ComputeEngine} (the abstract class is the DI token) and closes
 * it on shutdown. Wiring only; the engines are plain classes.
 */
@Module({})
export class ComputeModule implements OnApplicationShutdown {
  constructor(@Inject(ComputeEngine) private readonly engine: ComputeEngine) {}

  /** Registers the engine built from an already validated config. */
  static forRoot(config: ComputeEngineConfig): DynamicModule {
    return {
      module: ComputeModule,
      providers: [{ provide: ComputeEngine, useFactory: () => createComputeEngine(config) }],
      exports: [ComputeEngine],
    };
  }

  /** Registers the engine built from a config produced by injected providers. */
  static forRootAsync(options: ComputeModuleAsyncOptions): DynamicModule {
    return {
      module: ComputeModule,
      imports: options.imports ?? [],
      providers: [
        {
          provide: ComputeEngine,
          inject: options.inject ?? [],
          useFactory: async (...args: never[]) =>
            createComputeEngine(await options.useFactory(...args)),
        },
      ],
      exports: [ComputeEngine],
    };
  }

  /** Aborts engine calls still in flight. */
  async onApplicationShutdown(): Promise<void> {
    await this.engine.close?.();
  }
}
