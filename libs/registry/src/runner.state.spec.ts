import {
  LEGAL_TRANSITIONS,
  LIVE_STATES,
  RUNNER_STATES,
  isLegalTransition,
  isRunnerState,
} from './runner.state';

describe('runner lifecycle', () => {
  it('counts only reserved, provisioning, idle and busy as live', () => {
    expect([...LIVE_STATES].sort()).toEqual(['busy', 'idle', 'provisioning', 'reserved']);
  });

  it('allows exactly the moves of the design brief diagram (plus timeouts/scale-down)', () => {
    const moves = RUNNER_STATES.flatMap((from) =>
      LEGAL_TRANSITIONS[from].map((to) => `${from}>${to}`),
    );
    expect(moves.sort()).toEqual(
      [
        'reserved>provisioning',
        'reserved>failed',
        'reserved>destroying',
        'provisioning>idle',
        'provisioning>busy',
        'provisioning>failed',
        'provisioning>destroying',
        'idle>busy',
        'idle>failed',
        'idle>destroying',
        'busy>destroying',
        'failed>destroying',
        'destroying>deleted',
      ].sort(),
    );
  });

  it('never lets a busy runner fail or be deleted without destroying first', () => {
    expect(isLegalTransition('busy', 'failed')).toBe(false);
    expect(isLegalTransition('busy', 'deleted')).toBe(false);
    expect(isLegalTransition('busy', 'idle')).toBe(false);
    expect(isLegalTransition('busy', 'destroying')).toBe(true);
  });

  it('does not treat staying in a state as a move', () => {
    for (const state of RUNNER_STATES) {
      expect(isLegalTransition(state, state)).toBe(false);
    }
  });

  it('recognises states', () => {
    expect(isRunnerState('idle')).toBe(true);
    expect(isRunnerState('deleted')).toBe(false);
    expect(isRunnerState('IDLE')).toBe(false);
    expect(isRunnerState(3)).toBe(false);
  });
});
