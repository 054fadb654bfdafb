import { inspect } from 'node:util';
import {
  decodeJitConfig,
  decodeList,
  decodeMessage,
  decodeRunnerScaleSet,
  decodeRunnerGroup,
  decodeSession,
  encodeRunnerScaleSet,
  WireDecodeError,
} from './scaleset.codec';
import { ZERO_TIME } from './scaleset.types';

const stats = {
  totalAvailableJobs: 0,
  totalAcquiredJobs: 0,
  totalAssignedJobs: 2,
  totalRunningJobs: 1,
  totalRegisteredRunners: 2,
  totalBusyRunners: 1,
  totalIdleRunners: 1,
};

function envelope(jobs: unknown, extra: Record<string, unknown> = {}) {
  return {
    messageId: 100000171,
    messageType: 'RunnerScaleSetJobMessages',
    body: typeof jobs === 'string' ? jobs : JSON.stringify(jobs),
    statistics: stats,
    ...extra,
  };
}

const base = {
  runnerRequestId: 7,
  repositoryName: 'repo',
  ownerName: 'org',
  jobId: 'job-1',
  jobWorkflowRef: 'org/repo/.github/workflows/ci.yml@refs/heads/main',
  jobDisplayName: 'build',
  workflowRunId: 99,
  eventName: 'push',
  requestLabels: ['self-hosted', 'linux'],
  queueTime: '2026-05-05T12:00:00Z',
  scaleSetAssignTime: '2026-05-05T12:00:01.123+02:00',
};

describe('decodeMessage (§6.1)', () => {
  it('splits job messages by type in arrival order and keeps the statistics', () => {
    const message = decodeMessage(
      envelope([
        { ...base, messageType: 'JobAvailable', acquireJobUrl: 'https://x/acquire' },
        { ...base, messageType: 'JobAssigned', runnerRequestId: 8 },
        { ...base, messageType: 'JobStarted', runnerId: 3, runnerName: 'runner-1' },
        {
          ...base,
          messageType: 'JobCompleted',
          result: 'succeeded',
          runnerId: 3,
          runnerName: 'runner-1',
        },
        { ...base, messageType: 'JobAssigned', runnerRequestId: 9 },
      ]),
    );
    expect(message.messageId).toBe(100000171);
    expect(message.statistics).toEqual(stats);
    expect(message.jobAvailableMessages.map((j) => j.acquireJobUrl)).toEqual(['https://x/acquire']);
    expect(message.jobAssignedMessages.map((j) => j.runnerRequestId)).toEqual([8, 9]);
    expect(message.jobStartedMessages[0]).toMatchObject({ runnerId: 3, runnerName: 'runner-1' });
    expect(message.jobCompletedMessages[0]).toMatchObject({ result: 'succeeded', jobId: 'job-1' });
    expect(message.jobStartedMessages[0]?.scaleSetAssignTime).toBe('2026-05-05T12:00:01.123+02:00');
    expect(message.jobStartedMessages[0]?.runnerAssignTime).toBe(ZERO_TIME);
  });

  it('ignores unknown job types', () => {
    const message = decodeMessage(
      envelope([
        { ...base, messageType: 'JobSomethingNew', whatever: { nested: true } },
        { ...base, messageType: 'JobAssigned' },
      ]),
    );
    expect(message.jobAssignedMessages).toHaveLength(1);
    expect(message.jobAvailableMessages).toHaveLength(0);
  });

  it('treats an empty or absent body as no job messages', () => {
    expect(decodeMessage(envelope('')).jobAssignedMessages).toEqual([]);
    const { body: _body, ...noBody } = envelope('');
    expect(decodeMessage(noBody).jobCompletedMessages).toEqual([]);
  });

  it('tolerates missing statistics (null)', () => {
    const { statistics: _s, ...rest } = envelope([]);
    expect(decodeMessage(rest).statistics).toBeNull();
  });

  it.each([
    [
      'a wrong message type',
      envelope([], { messageType: 'SomethingElse' }),
      'unsupported message type',
    ],
    ['a body that is not JSON', envelope('not json'), 'message.body'],
    ['a body that is not an array', envelope('{"a":1}'), 'message.body'],
    [
      'a body given as an array instead of a string',
      { ...envelope([]), body: [] },
      'expected a string',
    ],
    [
      'a timestamp without zone',
      envelope([{ ...base, messageType: 'JobAssigned', queueTime: '2026-05-05T12:00:00' }]),
      'queueTime',
    ],
    [
      'a string runnerId',
      envelope([{ ...base, messageType: 'JobStarted', runnerId: '3' }]),
      'runnerId',
    ],
    ['a non-object element', envelope([1]), 'expected an object'],
    ['a non-object envelope', 'text', 'expected an object'],
  ])('rejects %s as a whole', (_label, value, fragment) => {
    expect(() => decodeMessage(value)).toThrow(WireDecodeError);
    expect(() => decodeMessage(value)).toThrow(fragment);
  });
});

describe('scale set serialisation (§4.4/§4.5)', () => {
  it('matches the SDK create body byte for byte', () => {
    expect(
      encodeRunnerScaleSet({
        name: 'my-set',
        runnerGroupId: 1,
        labels: [{ name: 'my-set' }],
        runnerSetting: { disableUpdate: true },
      }),
    ).toBe(
      '{"name":"my-set","runnerGroupId":1,"labels":[{"type":"System","name":"my-set"}],"RunnerSetting":{"disableUpdate":true},"createdOn":"0001-01-01T00:00:00Z"}',
    );
  });

  it('always sends RunnerSetting and the zero createdOn, omits empty fields', () => {
    expect(encodeRunnerScaleSet({ runnerGroupId: 2 })).toBe(
      '{"runnerGroupId":2,"RunnerSetting":{},"createdOn":"0001-01-01T00:00:00Z"}',
    );
    expect(
      encodeRunnerScaleSet({
        id: 0,
        name: '',
        runnerGroupName: '',
        labels: [],
        statistics: null,
        createdOn: '2026-01-01T00:00:00Z',
      }),
    ).toBe('{"RunnerSetting":{},"createdOn":"0001-01-01T00:00:00Z"}');
  });

  it('keeps caller label types and defaults empty ones', () => {
    const body = JSON.parse(
      encodeRunnerScaleSet({
        name: 'x',
        labels: [
          { type: 'User', name: 'a' },
          { type: '', name: 'b' },
        ],
      }),
    ) as { labels: unknown };
    expect(body.labels).toEqual([
      { type: 'User', name: 'a' },
      { type: 'System', name: 'b' },
    ]);
  });

  it('decodes runnerSetting case-insensitively and zero-fills missing fields', () => {
    expect(
      decodeRunnerScaleSet({ id: 5, RunnerSetting: { disableUpdate: true } }).runnerSetting,
    ).toEqual({
      disableUpdate: true,
    });
    const decoded = decodeRunnerScaleSet({ id: 5, runnerSetting: { DisableUpdate: true } });
    expect(decoded).toEqual({
      id: 5,
      name: '',
      runnerGroupId: 0,
      runnerGroupName: '',
      labels: [],
      runnerSetting: { disableUpdate: true },
      createdOn: ZERO_TIME,
      runnerJitConfigUrl: '',
      statistics: null,
    });
  });
});

describe('lists, sessions and JIT configs', () => {
  it('decides lists by count, not by array length', () => {
    const group = { id: 2, name: 'g', size: 1, isDefaultGroup: false };
    expect(decodeList({ count: 0, value: [group] }, decodeRunnerGroup).first).toBeUndefined();
    expect(decodeList({ count: 1, value: [group] }, decodeRunnerGroup).first).toEqual(group);
    expect(decodeList({ count: 2, value: [group, group] }, decodeRunnerGroup).count).toBe(2);
    expect(() => decodeList({ count: 1, value: [] }, decodeRunnerGroup)).toThrow(WireDecodeError);
  });

  it('requires a UUID sessionId and keeps statistics', () => {
    const session = decodeSession({
      sessionId: '3F2504E0-4F89-11D3-9A0C-0305E82C3301',
      ownerName: 'host',
      messageQueueUrl: 'https://b/m',
      messageQueueAccessToken: 'q',
      statistics: { totalAssignedJobs: 1 },
    });
    expect(session.sessionId).toBe('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    expect(session.statistics?.totalAssignedJobs).toBe(1);
    expect(() => decodeSession({ sessionId: '' })).toThrow('sessionId');
    expect(() => decodeSession({ sessionId: 'nope' })).toThrow('sessionId');
  });

  it('hides encodedJITConfig from JSON and inspect but keeps it readable', () => {
    const config = decodeJitConfig({
      runner: { id: 1, name: 'runner-1', runnerScaleSetId: 5, status: 'online', busy: false },
      encodedJITConfig: 'SECRET-JIT-CONFIG-VALUE',
    });
    expect(config.encodedJITConfig).toBe('SECRET-JIT-CONFIG-VALUE');
    expect(config.runner).toEqual({
      id: 1,
      name: 'runner-1',
      runnerScaleSetId: 5,
      status: 'online',
      busy: false,
    });
    expect(JSON.stringify(config)).not.toContain('SECRET-JIT');
    expect(inspect(config)).not.toContain('SECRET-JIT');
  });

  it('decodes an unrelated JIT response leniently to an empty result', () => {
    const config = decodeJitConfig({ something: 'else' });
    expect(config.runner.id).toBe(0);
    expect(config.encodedJITConfig).toBe('');
  });
});
