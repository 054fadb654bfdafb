import { ComputeEngine } from './compute.engine';
import { createComputeEngine } from './compute.factory';
import { DockerEngine } from './docker/docker.engine';
import { EngineConfigError, EngineNotImplementedError, isPermanentEngineError } from './errors';

describe('createComputeEngine', () => {
  it('builds the Docker engine without contacting the daemon', () => {
    const engine = createComputeEngine({
      kind: 'docker',
      docker: { ownerId: 'deploy-1', dockerHost: 'unix:///nonexistent/docker.sock' },
    });

    expect(engine).toBeInstanceOf(ComputeEngine);
    expect(engine).toBeInstanceOf(DockerEngine);
    expect(engine.kind).toBe('docker');
  });

  it.each(['aws', 'azure'] as const)('refuses %s as not implemented yet', (kind) => {
    let thrown: unknown;
    try {
      createComputeEngine({ kind });
    } catch (err) {
      thrown = err;
    }

    expect(thrown).toBeInstanceOf(EngineNotImplementedError);
    expect(isPermanentEngineError(thrown)).toBe(true);
    expect(String(thrown)).toContain(kind);
  });

  it('fails at build time on invalid Docker options', () => {
    expect(() =>
      createComputeEngine({ kind: 'docker', docker: { ownerId: 'd', memory: 'lots' } }),
    ).toThrow(EngineConfigError);
  });
});
