import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ComputeEngine } from './compute.engine';
import { ComputeModule } from './compute.module';
import { DockerEngine } from './docker/docker.engine';

const docker = { ownerId: 'deploy-1', dockerHost: 'unix:///nonexistent/docker.sock' };

@Injectable()
class EngineSettings {
  readonly docker = docker;
}

@Module({ providers: [EngineSettings], exports: [EngineSettings] })
class SettingsModule {}

describe('ComputeModule', () => {
  it('provides the configured engine under the ComputeEngine token', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ComputeModule.forRoot({ kind: 'docker', docker })],
    }).compile();

    const engine = moduleRef.get(ComputeEngine);

    expect(engine).toBeInstanceOf(DockerEngine);
    await moduleRef.close();
  });

  it('builds the engine from injected config with forRootAsync', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ComputeModule.forRootAsync({
          imports: [SettingsModule],
          inject: [EngineSettings],
          useFactory: (settings: EngineSettings) => ({ kind: 'docker', docker: settings.docker }),
        }),
      ],
    }).compile();

    expect(moduleRef.get(ComputeEngine)).toBeInstanceOf(DockerEngine);
    await moduleRef.close();
  });

  it('closes the engine on shutdown, so later calls are aborted', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ComputeModule.forRoot({ kind: 'docker', docker })],
    }).compile();
    moduleRef.enableShutdownHooks();
    const engine = moduleRef.get(ComputeEngine);

    await moduleRef.close();

    await expect(engine.list({ owner: 'deploy-1' })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('fails at startup for an engine kind that is not implemented', async () => {
    await expect(
      Test.createTestingModule({ imports: [ComputeModule.forRoot({ kind: 'aws' })] }).compile(),
    ).rejects.toThrow('not implemented yet');
  });
});
