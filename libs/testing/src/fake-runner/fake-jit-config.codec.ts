// The fake JIT config codec moved to libs/compute (the simulated engine decodes it); this file
// keeps the old import path working inside libs/testing.
export { decodeFakeJitConfig, encodeFakeJitConfig, type FakeJitConfig } from '@app/compute';
