// Fake GitHub service (protocol §11) and fake runner.
export { FakeGitHub } from './fake-github/fake-github.server';
export type { ConfigUrlScope, FakeGitHubApp } from './fake-github/fake-github.server';
export { runFakeGitHubCli, parseFakeGitHubArgs } from './fake-github/fake-github.cli';
export type { FakeGitHubCliArgs } from './fake-github/fake-github.cli';
export { ENDPOINT_NAMES } from './fake-github/fake-github.types';
export type * from './fake-github/fake-github.types';
export { FakeWireClient } from './fake-github/fake-github.wire';
export type { WireSession } from './fake-github/fake-github.wire';
export { fakeRunnerScript } from './fake-runner/fake-runner.script';
export type { FakeRunnerScript } from './fake-runner/fake-runner.script';
export { runFakeRunner } from './fake-runner/fake-runner.client';
export type { FakeRunnerOutcome, RunFakeRunnerOptions } from './fake-runner/fake-runner.client';
export { decodeFakeJitConfig, encodeFakeJitConfig } from './fake-runner/fake-jit-config.codec';
export type { FakeJitConfig } from './fake-runner/fake-jit-config.codec';
// Fake Compute Engine API (v1) for the GCP engine, and the runner guest that runs in its VMs.
export { FakeCompute } from './fake-compute/fake-compute.server';
export { fakeComputeClientOptions } from './fake-compute/fake-compute.client-options';
export type { FakeComputeClientOptions } from './fake-compute/fake-compute.client-options';
export { fakeRunnerGuest } from './fake-compute/fake-compute.guest';
export type { FakeRunnerGuestOptions } from './fake-compute/fake-compute.guest';
export type * from './fake-compute/fake-compute.types';
export * from './redis-server'; // startRedisServer, redisUrlForTests, scanRedisForSecret
export * from './docker-image';
