// The in-process fake runner moved to libs/compute (the simulated engine runs it); this file
// keeps the old import path working inside libs/testing.
export { runFakeRunner, type FakeRunnerOutcome, type RunFakeRunnerOptions } from '@app/compute';
